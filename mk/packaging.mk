# packaging: the CRD and its corpus, the Helm chart, manifests/, the RBAC
# checker and the Dockerfile (docs/packaging.md). helm comes from
# hack/install-helm.sh; the corpus also goes to the API simulator.
TEST_SUITES += packaging

.PHONY: test-packaging manifests
test-packaging:
	@python3 tests/packaging/run.py

# Re-render manifests/ and the chart's CRD copy after a chart or CRD change.
manifests:
	@hack/gen-manifests.sh
