#!/usr/bin/env bash
# Builds the manifest fuzz target (libFuzzer, ASan, UBSan) and either replays
# the manifest corpus once (regress: part of `make test-engine`) or fuzzes for
# FUZZ_SECONDS (fuzz: new inputs go to a scratch corpus under the build dir).
# Prints "fuzz-manifest: N passed, M failed".
set -euo pipefail
mode=${1:-regress}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${APPDB_BUILD:-$root/build}/fuzz
seconds=${FUZZ_SECONDS:-60}
cd "$root"
mkdir -p "$build"
bin=$build/fuzz_manifest
srcs=(operator/yamljson.c operator/yaml_scalar.c operator/model.c operator/model_connection.c operator/model_access.c
      operator/validate.c operator/validate_connection.c operator/err.c operator/secret.c
      operator/base64.c operator/dynbuf.c operator/jfield.c)
if [ ! -x "$bin" ] || [ -n "$(find tests/fuzz/fuzz_manifest.c "${srcs[@]}" operator/*.h -newer "$bin")" ]; then
	# shellcheck disable=SC2046
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Ioperator $(pkg-config --cflags yaml-0.1 jansson openssl) \
		-o "$bin" tests/fuzz/fuzz_manifest.c "${srcs[@]}" $(pkg-config --libs yaml-0.1 jansson openssl)
fi
seeds=(tests/corpus/valid tests/corpus/invalid examples)
if [ "$mode" = fuzz ]; then
	scratch=$build/corpus-manifest
	mkdir -p "$scratch"
	if "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		"$scratch" "${seeds[@]}" >"$build/fuzz_manifest.log" 2>&1; then
		echo "fuzz-manifest: 1 passed, 0 failed"
	else
		tail -30 "$build/fuzz_manifest.log"; echo "fuzz-manifest: 0 passed, 1 failed"; exit 1
	fi
else
	files=$(find "${seeds[@]}" -type f -name '*.yaml')
	# shellcheck disable=SC2086
	if "$bin" -rss_limit_mb=2048 $files >"$build/fuzz_manifest.log" 2>&1; then
		echo "fuzz-manifest: $(echo "$files" | wc -l) passed, 0 failed"
	else
		tail -30 "$build/fuzz_manifest.log"; echo "fuzz-manifest: 0 passed, 1 failed"; exit 1
	fi
fi
