# drills: the controller's reliability drills (tests/drills, docs/reliability.md)
# against `bin/appdb-operator run`, the API simulator and a real PostgreSQL:
# SIGKILL at random moments, the simulator stopped, PostgreSQL frozen and shut
# down, hostile API answers. `make test` runs their short form (suite drills,
# the four drill files side by side, about 30 to 45 s) after the replay of the
# config and kubeconfig fuzz seeds (suite drill-seeds); `make drills` runs the
# full form one drill after the other, then the controller end-to-end suite
# under valgrind. `make asan` replays the seeds but leaves the drills out: they
# measure resident memory and timings, which the sanitizers change. Figures go
# to build/drills/figures.jsonl.
TEST_SUITES += drill-seeds drills
SANITIZER_SKIP_SUITES += drills

FUZZ_CONFIG_REPLAY := $(BUILD)/fuzz/fuzz_config_replay
FUZZ_KUBECONFIG_REPLAY := $(BUILD)/fuzz/fuzz_kube_config_replay

$(BUILD)/fuzz/fuzz_%_replay: tests/fuzz/fuzz_%.c tests/fuzz/regress_main.c tests/fuzz/memfd_input.h $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/regress_main.c $(LIBOBJS) $(LDLIBS)

.PHONY: test-drill-seeds test-drills drills drills-valgrind fuzz-drills
test-drill-seeds: $(FUZZ_CONFIG_REPLAY) $(FUZZ_KUBECONFIG_REPLAY)
	@$(FUZZ_CONFIG_REPLAY) tests/fuzz/seeds/config
	@$(FUZZ_KUBECONFIG_REPLAY) tests/fuzz/seeds/kube_config

test-drills: $(BIN) $(FUZZ_CONFIG_REPLAY) $(FUZZ_KUBECONFIG_REPLAY)
	@$(FUZZ_CONFIG_REPLAY) tests/fuzz/seeds/config
	@$(FUZZ_KUBECONFIG_REPLAY) tests/fuzz/seeds/kube_config
	@python3 tests/drills/run.py short

drills: $(BIN) $(FUZZ_CONFIG_REPLAY) $(FUZZ_KUBECONFIG_REPLAY)
	@$(FUZZ_CONFIG_REPLAY) tests/fuzz/seeds/config
	@$(FUZZ_KUBECONFIG_REPLAY) tests/fuzz/seeds/kube_config
	@python3 tests/drills/run.py full
	@$(MAKE) --no-print-directory drills-valgrind

# The controller end-to-end suite with every operator process under valgrind
# (memcheck): 0 errors and 0 definitely lost bytes, or it fails. Operators are
# stopped with SIGTERM so that valgrind sees them exit.
drills-valgrind: $(BIN)
	@rm -rf $(BUILD)/drills/valgrind && mkdir -p $(BUILD)/drills/valgrind
	@rc=0; APPDB_VALGRIND_DIR=$(abspath $(BUILD)/drills/valgrind) APPDB_VALGRIND_BIN=$(abspath $(BIN)) \
	APPDB_OPERATOR=$(abspath tests/drills/valgrind-operator.sh) APPDB_E2E_GRACEFUL=1 \
	APPDB_E2E_SLOW=10 python3 tests/lib/run.py e2e-valgrind tests/e2e || rc=1; \
	python3 tests/drills/valgrind_summary.py $(BUILD)/drills/valgrind && exit $$rc

# libFuzzer runs of the config loader and the kubeconfig reader (clang):
# FUZZ_SECONDS each, new inputs in build/fuzz/<target>_corpus.
fuzz: fuzz-drills
fuzz-drills:
	@set -e; for t in config kube_config; do \
		mkdir -p build/fuzz/$${t}_corpus; \
		clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -pthread -Ioperator \
			$(PKG_CFLAGS) -DAPPDB_VERSION='"$(VERSION)"' -DAPPDB_BUILD_ID='"$(BUILD_ID)"' \
			-o build/fuzz/fuzz_$$t tests/fuzz/fuzz_$$t.c \
			$(filter-out operator/main.c,$(SRCS)) $(PKG_LIBS) -lm; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=10 \
			-rss_limit_mb=1024 build/fuzz/$${t}_corpus tests/fuzz/seeds/$$t; \
	done
