# The engine against a real PostgreSQL, through the reconcile/plan commands;
# the manifest fuzz target replayed over the corpus. The crash tests run
# $(TEST_BIN), the build with failpoints.
TEST_SUITES += engine

.PHONY: test-engine fuzz-engine
test-engine: $(BIN) $(TEST_BIN)
	@tests/fuzz/run-manifest.sh regress
	@python3 tests/lib/run.py engine tests/engine

fuzz-engine:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run-manifest.sh fuzz

fuzz: fuzz-engine
