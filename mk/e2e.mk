# The controller end to end: kubectl, the API simulator, the operator, PostgreSQL.
TEST_SUITES += e2e

.PHONY: test-e2e
test-e2e: $(BIN)
	@python3 tests/lib/run.py e2e tests/e2e
