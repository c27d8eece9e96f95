# appdb-operator build.
#
#   make            bin/appdb-operator
#   make test       install what is missing, build, run every test suite
#   make asan       the whole suite under AddressSanitizer + UBSan
#   make demo       the end-to-end demo (see README.md)
#   make bench      speed and memory figures
#   make lint       clang-format check and cppcheck
#   make fuzz       run the fuzz targets for a while (clang, libFuzzer)
#   make drills     the controller's reliability drills, full form (docs/reliability.md)
#   make image      the container image and its SBOM; make image-test runs it
#
# Every operator/*.c is part of the binary; operator/main.c holds main() only,
# so unit tests link the rest. Test suites register themselves in mk/*.mk by
# appending to TEST_SUITES and defining test-<name>.

CC      ?= cc
BUILD   ?= build
BINDIR  ?= bin
SAN     ?=
PKGS    := libcurl jansson libpq yaml-0.1 openssl libmicrohttpd expat

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

BUILD_ID ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
VERSION  := 0.1.0

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
           -Wno-unused-parameter -Wno-format-truncation -fno-strict-aliasing -pthread \
           -Ioperator $(PKG_CFLAGS) -MMD -MP \
           -DAPPDB_VERSION='"$(VERSION)"' -DAPPDB_BUILD_ID='"$(BUILD_ID)"'
ifneq ($(SAN),)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else ifneq ($(HARDEN),0)
# Debian's hardening flags (stack protector, FORTIFY, format checks, full
# RELRO with BIND_NOW; gcc builds PIE by default there), as the image ships
# them; tests/packaging/test_hardening.py reads the binary with readelf.
# -Wformat is left out: it would lower -Wformat=2 to level 1.
# The sanitizer build goes without: FORTIFY's checked calls bypass ASan's
# interceptors. HARDEN=0 turns them off.
DPKG_HARDENING = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get
HARDEN_CFLAGS  := $(shell $(DPKG_HARDENING) CPPFLAGS 2>/dev/null) \
                  $(filter -f% -W%,$(filter-out -ffile-prefix-map=% -Wformat,$(shell $(DPKG_HARDENING) CFLAGS 2>/dev/null)))
HARDEN_LDFLAGS := $(shell $(DPKG_HARDENING) LDFLAGS 2>/dev/null)
ifeq ($(strip $(HARDEN_LDFLAGS)),)
# No dpkg-buildflags (not Debian): the same flags by hand.
HARDEN_CFLAGS  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Werror=format-security -fPIE
HARDEN_LDFLAGS := -Wl,-z,relro -Wl,-z,now -pie
endif
CFLAGS  += $(HARDEN_CFLAGS)
LDFLAGS += $(HARDEN_LDFLAGS)
endif
LDLIBS  += $(PKG_LIBS) -pthread -lm

SRCS     := $(wildcard operator/*.c)
OBJS     := $(patsubst operator/%.c,$(BUILD)/operator/%.o,$(SRCS))
LIBOBJS  := $(filter-out $(BUILD)/operator/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
# Unit tests link a failing allocator over the project's objects.
UNIT_WRAP := -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=strdup
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
BIN      := $(BINDIR)/appdb-operator
# The crash tests' binary: the product plus the failpoints (APPDB_FAILPOINTS),
# which bin/appdb-operator never contains.
# Every engine file: struct engine has the failpoints' fields in that build.
FAILPOINT_SRCS := $(wildcard operator/engine*.c)
FAILPOINT_OBJS := $(patsubst operator/%.c,$(BUILD)/test/operator/%.o,$(FAILPOINT_SRCS))
TEST_BIN := $(BUILD)/test/appdb-operator

# Everything the test scripts need to find the build.
export APPDB_OPERATOR = $(abspath $(BIN))
export APPDB_ROOT = $(CURDIR)
export APPDB_BUILD = $(abspath $(BUILD))
# Test files of one suite run this many at a time (tests/lib/run.py).
TEST_JOBS ?= 2
export APPDB_TEST_JOBS = $(TEST_JOBS)
export APPDB_OPERATOR_FAILPOINTS = $(abspath $(TEST_BIN))

TEST_SUITES :=
# Suites that never run the C code: `make asan` skips them.
PURE_PYTHON_SUITES := kubesim packaging
# Suites whose checks (resident memory, timings) do not hold under the sanitizers.
SANITIZER_SKIP_SUITES :=
BENCHES :=

.PHONY: all deps test unit asan demo bench lint fuzz clean format
all: $(BIN)

deps:
	@hack/install-deps.sh

$(BIN): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/operator/%.o: operator/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The objects that embed the build ID are rebuilt when it changes (a commit,
# or a clean tree becoming dirty), so that an incremental build never
# records an older build in its audit records.
BUILD_ID_STAMP := $(BUILD)/build-id
$(BUILD_ID_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(BUILD_ID)' | cmp -s - $@ || echo '$(BUILD_ID)' > $@
$(BUILD)/operator/cli.o $(BUILD)/operator/config.o: $(BUILD_ID_STAMP)
.PHONY: FORCE
FORCE:

$(TEST_BIN): $(filter-out $(FAILPOINT_OBJS:$(BUILD)/test/%=$(BUILD)/%),$(OBJS)) $(FAILPOINT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test/operator/%.o: operator/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DAPPDB_FAILPOINTS -c -o $@ $<

# Unit tests link the objects of the modules with entry points only they use
# (APPDB_TEST_API) built apart, so that bin/appdb-operator has none of them.
TEST_API_SRCS := $(addprefix operator/,events.c workqueue.c kube_client.c cache.c httpd.c metrics.c)
TEST_API_OBJS := $(patsubst operator/%.c,$(BUILD)/unitobj/%.o,$(TEST_API_SRCS))
UNIT_OBJS := $(filter-out $(TEST_API_OBJS:$(BUILD)/unitobj/%=$(BUILD)/operator/%),$(LIBOBJS)) \
	$(TEST_API_OBJS)

# Kept between runs (make would take them for intermediates of the pattern below).
.SECONDARY: $(TEST_API_OBJS)

$(BUILD)/unitobj/%.o: operator/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DAPPDB_TEST_API -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c tests/unit/failalloc.c $(UNIT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DAPPDB_TEST_API -Itests/unit $(LDFLAGS) $(UNIT_WRAP) -o $@ $< \
		tests/unit/failalloc.c $(UNIT_OBJS) $(LDLIBS) -lcmocka

# Unit tests: each binary is a cmocka group; data files are read relative
# to the repository root.
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

include $(wildcard mk/*.mk)

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory lint
	@t0=$$(date +%s); $(MAKE) --no-print-directory unit && echo "suite unit: $$(( $$(date +%s) - t0 )) s"
	@set -e; for s in $(or $(SUITES),$(TEST_SUITES)); do t0=$$(date +%s); \
		$(MAKE) --no-print-directory test-$$s; \
		echo "suite $$s: $$(( $$(date +%s) - t0 )) s"; done
	@echo "all test suites passed"

asan:
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(MAKE) --no-print-directory BUILD=build/asan BINDIR=build/asan/bin SAN=1 \
		SUITES="$(filter-out $(PURE_PYTHON_SUITES) $(SANITIZER_SKIP_SUITES),$(TEST_SUITES))" test

lint:
	@clang-format --dry-run --Werror operator/*.c operator/*.h tests/unit/*.c
	@cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--suppress=missingIncludeSystem --inline-suppr --include=.cppcheck-jansson.h \
		-Ioperator operator

format:
	@clang-format -i operator/*.c operator/*.h tests/unit/*.c

clean:
	rm -rf build bin

-include $(OBJS:.o=.d) $(FAILPOINT_OBJS:.o=.d) $(TEST_API_OBJS:.o=.d)

demo: deps all
	@hack/demo.sh

# Speed and memory figures (mk/bench.mk); nothing here fails on a timing.
BENCH_N ?= 100
bench: deps all
	@for b in $(BENCHES); do $(MAKE) --no-print-directory $$b; done
