#!/usr/bin/env bash
# Builds the AWS fuzz targets with clang's libFuzzer and AddressSanitizer,
# then either replays the seed corpus once (regress: part of the test
# suite) or fuzzes each target for FUZZ_SECONDS (fuzz; new inputs go to a
# scratch corpus under the build directory, never into the repository).
#
#   tests/fuzz/run.sh regress        replay tests/fuzz/corpus/<target>/*
#   FUZZ_SECONDS=60 tests/fuzz/run.sh fuzz
# Prints "fuzz: N passed, M failed" and exits non-zero on any failure.
set -euo pipefail

mode=${1:-regress}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${APPDB_BUILD:-$root/build}/fuzz
seconds=${FUZZ_SECONDS:-60}
targets=(fuzz_aws_sts fuzz_aws_err)
srcs=(operator/aws*.c operator/rds_iam.c operator/err.c operator/log.c operator/secret.c operator/base64.c
      operator/clock.c operator/dynbuf.c)

if ! command -v clang >/dev/null; then
	echo "fuzz: clang is not installed (hack/install-deps.sh installs it)" >&2
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
mkdir -p "$build"
cd "$root"
cflags=$(pkg-config --cflags libcurl jansson openssl expat)
libs=$(pkg-config --libs libcurl jansson openssl expat)
passed=0
failed=0
for t in "${targets[@]}"; do
	bin=$build/$t
	if [ ! -x "$bin" ] || [ -n "$(find tests/fuzz/$t.c "${srcs[@]}" operator/aws_int.h -newer "$bin" 2>/dev/null)" ]; then
		# shellcheck disable=SC2086
		clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
			-fno-sanitize-recover=undefined -pthread -Ioperator $cflags \
			-DAPPDB_VERSION='"fuzz"' -DAPPDB_BUILD_ID='"fuzz"' \
			-o "$bin" "tests/fuzz/$t.c" "${srcs[@]}" $libs -lm
	fi
	corpus=tests/fuzz/corpus/${t#fuzz_}
	if [ "$mode" = fuzz ]; then
		scratch=$build/corpus-$t
		mkdir -p "$scratch"
		if "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
			-print_final_stats=1 "$scratch" "$corpus" >"$build/$t.log" 2>&1; then
			passed=$((passed + 1)); echo "PASS $t fuzzed ${seconds}s"
		else
			failed=$((failed + 1)); echo "FAIL $t: see $build/$t.log"; tail -30 "$build/$t.log"
		fi
	else
		if "$bin" -runs=0 "$corpus" >"$build/$t.log" 2>&1 &&
			"$bin" $(find "$corpus" -type f) >>"$build/$t.log" 2>&1; then
			passed=$((passed + 1)); echo "PASS $t replayed $(find "$corpus" -type f | wc -l) inputs"
		else
			failed=$((failed + 1)); echo "FAIL $t: see $build/$t.log"; tail -30 "$build/$t.log"
		fi
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
