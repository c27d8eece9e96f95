#!/usr/bin/env bash
# The demo: a throwaway PostgreSQL and the Kubernetes API simulator, the CRD
# and examples/ applied with kubectl, the operator running, then what a
# platform team sees: kubectl wait, get, describe, and the roles and
# databases in PostgreSQL. Everything it starts is stopped and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${APPDB_OPERATOR:-bin/appdb-operator}
work=$(mktemp -d)
pgdir=$(mktemp -d)
simdir=$(mktemp -d)
op_pid=""
sim_pid=""
cleanup() {
	[ -z "$op_pid" ] || kill -TERM "$op_pid" 2>/dev/null || true
	[ -z "$op_pid" ] || wait "$op_pid" 2>/dev/null || true
	[ -z "$sim_pid" ] || kill -TERM "$sim_pid" 2>/dev/null || true
	[ -z "$sim_pid" ] || wait "$sim_pid" 2>/dev/null || true
	hack/pg-throwaway.sh stop "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$work" "$simdir"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
k() { echo "\$ kubectl $*"; kubectl --kubeconfig "$simdir/kubeconfig" --cache-dir "$work/kcache" "$@"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

say "starting a throwaway PostgreSQL (TLS, a non-superuser admin as on RDS)"
hack/pg-throwaway.sh start "$pgdir" >/dev/null
. "$pgdir/env"
echo "PostgreSQL on 127.0.0.1:$PGPORT"

say "starting the Kubernetes API simulator"
tests/kubesim/kubesim --state-dir "$simdir" >"$work/kubesim.out" 2>"$work/kubesim.log" &
sim_pid=$!
for _ in $(seq 100); do grep -q '^kubesim ready' "$work/kubesim.out" 2>/dev/null && break; sleep 0.1; done
cat "$work/kubesim.out"

say "installing the CRD"
k apply -f crds/appdatabase.yaml

say "starting appdb-operator run"
printf '%s' "$PGADMIN_PASSWORD" >"$work/admin-password"
cat >"$work/config.yaml" <<CFG
environment: dev
instances:
  local:
    host: 127.0.0.1
    port: $PGPORT
    sslMode: verify-full
    sslRootCert: $PGCA
    admin:
      user: $PGADMIN_USER
      passwordFrom: {file: $work/admin-password}
cacheDir: $work/cache
httpPort: 0
resyncSeconds: 60
CFG
BUILD_ID=demo "$bin" run --config "$work/config.yaml" --kubeconfig "$simdir/kubeconfig" \
	>"$work/audit.jsonl" 2>"$work/operator.log" &
op_pid=$!

say "applying examples/"
start=$(date +%s%N)
k apply -f examples/
k wait --for=condition=Ready appdb --all -A --timeout=120s
echo "apply to Ready: $(ms "$start") ms for $(ls examples/*.yaml | wc -l) example files"

say "what the platform team sees"
k get appdb -A
k describe appdb orders -n team-orders

psql_super() { runuser -u postgres -- psql -X -h "$PGSOCK" -p "$PGPORT" -U postgres "$@" 2>/dev/null ||
	psql -X -h "$PGSOCK" -p "$PGPORT" -U postgres "$@"; }
say "roles and databases in PostgreSQL"
psql_super -d postgres -c "select rolname, rolcanlogin as login, rolconnlimit as conn_limit
  from pg_roles where shobj_description(oid, 'pg_authid') like '%appdb-operator%' order by 1"
psql_super -d postgres -c "select datname, pg_get_userbyid(datdba) as owner, datacl
  from pg_database where shobj_description(oid, 'pg_database') like '%appdb-operator%' order by 1"
psql_super -d postgres -c "select count(*) as admin_memberships_left from pg_auth_members
  where member = '$PGADMIN_USER'::regrole"

say "the audit trail ($(wc -l <"$work/cache/audit.jsonl") records), first one:"
head -n 1 "$work/cache/audit.jsonl"

say "operator memory"
echo "resident: $(awk '/VmRSS/ {print $2, $3}' "/proc/$op_pid/status")"
say "done; stopping the operator (SIGTERM) and cleaning up"
