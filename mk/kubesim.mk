# kubesim: the Kubernetes API simulator's own test suite (docs/testing.md).
TEST_SUITES += kubesim

.PHONY: test-kubesim bench-kubesim
test-kubesim:
	@python3 tests/kubesim/run_tests.py

bench-kubesim:
	@python3 tests/kubesim/bench.py
