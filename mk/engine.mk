# The engine against a real PostgreSQL, through the reconcile/plan commands.
TEST_SUITES += engine

.PHONY: test-engine
test-engine: $(BIN)
	@python3 tests/lib/run.py engine tests/engine
