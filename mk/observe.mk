# observe: what the platform sees (DESIGN 11.5) - the report on a trail the
# suite makes, kubectl-appdb through the real kubectl and the chart's approval
# policy, the chart's PrometheusRule (promtool) and Grafana dashboard against
# the operator's real /metrics, and the Argo CD health check (lua5.1) on real
# status objects; plus a replay of the audit-line fuzz seeds. promtool and
# lua5.1 come from hack/install-deps.sh (Debian's prometheus and lua5.1).
TEST_SUITES += observe

FUZZ_AUDIT_REPLAY := $(BUILD)/fuzz/fuzz_audit_line_replay

.PHONY: test-observe fuzz-observe
test-observe: $(BIN) $(FUZZ_AUDIT_REPLAY)
	@$(FUZZ_AUDIT_REPLAY) tests/fuzz/seeds/audit_line
	@python3 tests/lib/run.py observe tests/observe

# libFuzzer run of the audit-line parser (clang): FUZZ_SECONDS, default 60.
fuzz: fuzz-observe
fuzz-observe:
	@mkdir -p build/fuzz/audit_line_corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -pthread -Ioperator \
		$(PKG_CFLAGS) -DAPPDB_VERSION='"$(VERSION)"' -DAPPDB_BUILD_ID='"$(BUILD_ID)"' \
		-o build/fuzz/fuzz_audit_line tests/fuzz/fuzz_audit_line.c \
		$(filter-out operator/main.c,$(SRCS)) $(PKG_LIBS) -lm
	build/fuzz/fuzz_audit_line -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=10 \
		-rss_limit_mb=1024 build/fuzz/audit_line_corpus tests/fuzz/seeds/audit_line
