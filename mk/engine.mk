# The engine against a real PostgreSQL, through the reconcile/plan commands,
# on every major in PG_MAJORS; the manifest fuzz target replayed over the corpus.
#
#   make test-engine                 every major, 13 to 18; each ends with
#                                    "engine-pgN: N passed, M failed"
#   make test-engine PG_MAJOR=14     one major
#   make test-engine PG_MAJORS="14 17"
#   make test-engine PG_JOBS=1       one major at a time (default: two at once,
#                                    tests/engine/matrix.sh)
#
# The servers come from hack/pg-throwaway.sh (Debian's 15, the others from
# hack/install-postgres.sh, installed the first time). The sanitized run
# (`make asan`) keeps to 15. docs/compatibility.md says what differs. The
# crash tests run $(TEST_BIN), the build with failpoints.
TEST_SUITES += engine

ifeq ($(SAN),)
PG_MAJORS ?= 13 14 15 16 17 18
else
PG_MAJORS ?= 15
endif

.PHONY: test-engine fuzz-engine
test-engine: $(BIN) $(TEST_BIN)
	@tests/fuzz/run-manifest.sh regress
	@tests/engine/matrix.sh $(or $(PG_MAJOR),$(PG_MAJORS))

fuzz-engine:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run-manifest.sh fuzz

fuzz: fuzz-engine
