#!/usr/bin/env bash
# Runs the engine suite once per PostgreSQL major, each against a server of
# that major (hack/pg-throwaway.sh), PG_JOBS majors at a time (default 2):
# all of it on 15, the version-dependent modules on the others (modules()).
#
#   tests/engine/matrix.sh 13 14 15 16 17 18
#
# Each major's output is printed whole, in the order given, once it is done:
# it ends with "engine-pgN: N passed, M failed" and "engine-pgN took S s".
# The servers are installed first (not timed). Fails when any major failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

majors=("$@")
[ ${#majors[@]} -gt 0 ] || { echo "usage: matrix.sh MAJOR..." >&2; exit 2; }
jobs=${PG_JOBS:-2}
# The test files of one major run APPDB_TEST_JOBS at a time when it is the
# only major (the sanitized run); with several, the majors share the cores.
inner=1
[ ${#majors[@]} -gt 1 ] || inner=${APPDB_TEST_JOBS:-1}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=""

for v in "${majors[@]}"; do
	hack/pg-throwaway.sh --major "$v" bindir >/dev/null || failed="$failed $v"
done
[ -z "$failed" ] || { echo "engine: no PostgreSQL for$failed"; exit 1; }

# The test modules a major runs. 15 (the default server) runs all of them.
# The other majors run what depends on the server's version: test_engine,
# test_tenant, test_versions, and the access-change matrix (test_access) on
# 14 and 17 as well. The corpus, the input refusals and the German messages
# never reach a server's version-specific behaviour.
modules() {
	case "$1" in
	15) echo "test_*.py" ;;
	14 | 17) echo "test_[aetv]*.py" ;;
	*) echo "test_[etv]*.py" ;;
	esac
}

# One major: its log, then its exit status in $logs/N.rc (written last).
run_one() {
	local v=$1 start rc
	start=$(date +%s)
	APPDB_PG_MAJOR=$v APPDB_TEST_JOBS=$inner python3 tests/lib/run.py "engine-pg$v" tests/engine "$(modules "$v")" \
		>"$logs/$v.log" 2>&1
	rc=$?
	echo "engine-pg$v took $(($(date +%s) - start)) s" >>"$logs/$v.log"
	echo "$rc" >"$logs/$v.rc.tmp"
	mv "$logs/$v.rc.tmp" "$logs/$v.rc"
}

# Prints the logs of the majors done so far, in order.
next=0
print_done() {
	local v
	while [ "$next" -lt ${#majors[@]} ] && [ -e "$logs/${majors[$next]}.rc" ]; do
		v=${majors[$next]}
		cat "$logs/$v.log"
		[ "$(cat "$logs/$v.rc")" = 0 ] || failed="$failed $v"
		next=$((next + 1))
	done
}

# Started longest first (15 runs every module, 14 and 17 the access matrix
# too), so that the last major to start is a short one; printed as given.
start_order=()
for v in "${majors[@]}"; do [ "$v" = 15 ] && start_order+=("$v"); done
for v in "${majors[@]}"; do case "$v" in 14 | 17) start_order+=("$v") ;; esac; done
for v in "${majors[@]}"; do case "$v" in 14 | 15 | 17) ;; *) start_order+=("$v") ;; esac; done

for v in "${start_order[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n || true
		print_done
	done
	run_one "$v" &
done
wait
print_done

[ -z "$failed" ] || { echo "engine: failed on PostgreSQL$failed"; exit 1; }
