#!/usr/bin/env bash
# The demo: a throwaway PostgreSQL, the examples/ reconciled twice (the second
# run changes nothing), then the roles and databases as psql shows them.
# Everything it starts is stopped and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${APPDB_OPERATOR:-bin/appdb-operator}
work=$(mktemp -d)
pgdir=$(mktemp -d)
cleanup() {
	hack/pg-throwaway.sh stop "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting a throwaway PostgreSQL (TLS, a non-superuser admin as on RDS)"
hack/pg-throwaway.sh start "$pgdir" >/dev/null
. "$pgdir/env"
printf '%s\n' "$PGADMIN_PASSWORD" >"$work/admin-password"
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
CFG
echo "PostgreSQL on 127.0.0.1:$PGPORT, config in $work/config.yaml"

say "appdb-operator plan -f examples/   (what would change)"
"$bin" plan --config "$work/config.yaml" -f examples/ >/dev/null || [ $? -eq 3 ]

say "appdb-operator reconcile -f examples/   (first run)"
start=$(date +%s%N)
"$bin" reconcile --config "$work/config.yaml" -f examples/ >"$work/audit.out"
first=$(( ($(date +%s%N) - start) / 1000000 ))
echo "audit records written: $(wc -l <"$work/audit.out") (also in $work/cache/audit.jsonl)"

say "appdb-operator reconcile -f examples/   (second run: nothing to do)"
ddl_before=$(grep -c 'statement:' "$PGLOG" || true)
start=$(date +%s%N)
"$bin" reconcile --config "$work/config.yaml" -f examples/
second=$(( ($(date +%s%N) - start) / 1000000 ))
ddl_after=$(grep -c 'statement:' "$PGLOG" || true)
echo "DDL statements executed by the second run: $((ddl_after - ddl_before))"
echo "first run: ${first} ms, second run: ${second} ms"

psql_super() { runuser -u postgres -- psql -X -h "$PGSOCK" -p "$PGPORT" -U postgres "$@" 2>/dev/null ||
	psql -X -h "$PGSOCK" -p "$PGPORT" -U postgres "$@"; }

say "roles"
psql_super -d postgres -c "select rolname, rolcanlogin as login, rolconnlimit as conn_limit,
  shobj_description(oid, 'pg_authid') as marker from pg_roles
  where shobj_description(oid, 'pg_authid') like '%appdb-operator%' order by 1"
say "databases"
psql_super -d postgres -c "select datname, pg_get_userbyid(datdba) as owner, datacl from pg_database
  where shobj_description(oid, 'pg_database') like '%appdb-operator%' order by 1"
say "the admin keeps no membership in application roles"
psql_super -d postgres -c "select count(*) as admin_memberships from pg_auth_members
  where member = '$PGADMIN_USER'::regrole"
say "done; cleaning up"
