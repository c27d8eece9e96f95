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
fuzz: fuzz-ctrl
fuzz-ctrl:
	@mkdir -p build/fuzz/watch_line_corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -pthread -Ioperator \
		$(PKG_CFLAGS) -DAPPDB_VERSION='"$(VERSION)"' -DAPPDB_BUILD_ID='"$(BUILD_ID)"' \
		-o build/fuzz/fuzz_watch_line tests/fuzz/fuzz_watch_line.c \
		$(filter-out operator/main.c,$(SRCS)) $(PKG_LIBS) -lm
	build/fuzz/fuzz_watch_line -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		build/fuzz/watch_line_corpus tests/fuzz/seeds/watch_line

# ThreadSanitizer (clang) over the unit tests of the shared, threaded modules:
# the work queue, credentials under token rotation and a plugin run outside
# the lock, the client's cancel, the Lease elector, the HTTP endpoint, and the
# controller's modules (the store, the Kubernetes-Secret source, the outbox and
# the status write) and the exec plugin runner.
TSAN_FLAGS = -g -O1 -fsanitize=thread -std=c11 -D_GNU_SOURCE -DAPPDB_TEST_API -pthread -Ioperator -Itests/unit \
	$(PKG_CFLAGS) -DAPPDB_VERSION='"$(VERSION)"' -DAPPDB_BUILD_ID='"$(BUILD_ID)"'
TSAN_UTIL = operator/clock.c operator/dynbuf.c operator/base64.c operator/fdio.c \
	operator/jfield.c operator/backoff.c operator/err.c operator/log.c
TSAN_KUBE = operator/kube_client.c operator/kube_watch.c operator/kube_config.c operator/kube_creds.c operator/execplugin.c \
	operator/yamljson.c operator/yaml_scalar.c operator/secret.c $(TSAN_UTIL)
# The controller's modules need most of the operator: link it all but main.
TSAN_ALL = $(filter-out operator/main.c,$(SRCS))
TSAN_CTL_TESTS = store ksecret outbox status execplugin
.PHONY: tsan-ctrl
tsan-ctrl:
	@mkdir -p build/tsan
	clang $(TSAN_FLAGS) -o build/tsan/test_workqueue tests/unit/test_workqueue.c \
		tests/unit/failalloc.c operator/workqueue.c $(TSAN_UTIL) $(UNIT_WRAP) $(PKG_LIBS) -lm \
		-lcmocka
	clang $(TSAN_FLAGS) -o build/tsan/test_kube_config tests/unit/test_kube_config.c \
		tests/unit/failalloc.c $(TSAN_KUBE) $(UNIT_WRAP) $(PKG_LIBS) -lcmocka
	clang $(TSAN_FLAGS) -o build/tsan/test_kube_client tests/unit/test_kube_client.c \
		tests/unit/failalloc.c $(TSAN_KUBE) $(UNIT_WRAP) $(PKG_LIBS) -lcmocka
	clang $(TSAN_FLAGS) -o build/tsan/test_leader tests/unit/test_leader.c operator/leader.c \
		$(TSAN_KUBE) $(PKG_LIBS) -lcmocka
	clang $(TSAN_FLAGS) -o build/tsan/test_httpd tests/unit/test_httpd.c operator/httpd.c \
		operator/metrics.c $(TSAN_UTIL) $(PKG_LIBS) -lcmocka
	@set -e; for t in $(TSAN_CTL_TESTS); do \
		echo "clang ... -o build/tsan/test_$$t"; \
		clang $(TSAN_FLAGS) -o build/tsan/test_$$t tests/unit/test_$$t.c tests/unit/failalloc.c \
			$(TSAN_ALL) $(UNIT_WRAP) $(PKG_LIBS) -lm -lcmocka; done
	@set -e; for t in workqueue kube_config kube_client leader httpd $(TSAN_CTL_TESTS); do \
		TSAN_OPTIONS=halt_on_error=1 build/tsan/test_$$t; done
