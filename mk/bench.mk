# bench: `make bench` prints the figures of DESIGN section 10, each beside the
# floor measured in the same run (tests/bench/bench.py, docs/benchmarks.md).
# `make test` runs its smoke form (N = 10, a short idle window) as suite
# bench-smoke so that the bench cannot rot; nothing fails on a timing.
TEST_SUITES += bench-smoke
# Timings mean nothing under the sanitizers, and the code it runs is the
# e2e and engine suites' too: `make asan` skips it like the Python-only suites.
PURE_PYTHON_SUITES += bench-smoke

CONNLOOP := $(BUILD)/bench/connloop
export APPDB_CONNLOOP = $(abspath $(CONNLOOP))

$(CONNLOOP): tests/bench/connloop.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

BENCHES += bench-figures
.PHONY: bench-figures test-bench-smoke
bench-figures: $(BIN) $(CONNLOOP)
	@python3 tests/bench/bench.py --n $(BENCH_N)

test-bench-smoke: $(BIN) $(CONNLOOP)
	@python3 tests/bench/bench.py --smoke

# The typed store's heap cost per resource (tests/bench/store_cost.c).
STORE_COST := $(BUILD)/bench/store_cost
export APPDB_STORE_COST = $(abspath $(STORE_COST))

$(STORE_COST): tests/bench/store_cost.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS)

bench-figures test-bench-smoke: $(STORE_COST)
