# ctrl: the controller's Kubernetes modules (client, watch, events, leader
# election, service-account token rotation) against the API simulator, through
# a small driver program, plus a replay of the watch-line fuzz seeds.
TEST_SUITES += ctrl

CTRL_DRIVER := $(BUILD)/ctrl/ctrl_driver
FUZZ_WATCH_REPLAY := $(BUILD)/fuzz/fuzz_watch_line_replay
export APPDB_CTRL_DRIVER = $(abspath $(CTRL_DRIVER))
export APPDB_FUZZ_WATCH_REPLAY = $(abspath $(FUZZ_WATCH_REPLAY))

$(CTRL_DRIVER): tests/ctrl/ctrl_driver.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS)

$(FUZZ_WATCH_REPLAY): tests/fuzz/fuzz_watch_line.c tests/fuzz/regress_main.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/fuzz_watch_line.c tests/fuzz/regress_main.c \
		$(LIBOBJS) $(LDLIBS)

.PHONY: test-ctrl fuzz-ctrl
test-ctrl: $(CTRL_DRIVER) $(FUZZ_WATCH_REPLAY)
	@python3 tests/lib/run.py ctrl tests/ctrl

# libFuzzer run of the watch-line parser (clang): FUZZ_SECONDS, default 60.
FUZZ_SECONDS ?= 60
fuzz-ctrl:
	@mkdir -p build/fuzz/watch_line_corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -pthread -Ioperator \
		$(PKG_CFLAGS) -DAPPDB_VERSION='"$(VERSION)"' -DAPPDB_BUILD_ID='"$(BUILD_ID)"' \
		-o build/fuzz/fuzz_watch_line tests/fuzz/fuzz_watch_line.c \
		$(filter-out operator/main.c,$(SRCS)) $(PKG_LIBS) -lm
	build/fuzz/fuzz_watch_line -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		build/fuzz/watch_line_corpus tests/fuzz/seeds/watch_line
