#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests, the demo and the benchmarks.
#
#   hack/pg-throwaway.sh [--major N] start DIR   initdb in DIR, start on a free
#                                    loopback port, create the delegated admin
#                                    role; prints "PGPORT=<port>" and writes DIR/env
#   hack/pg-throwaway.sh stop DIR    stop the server and remove DIR
#   hack/pg-throwaway.sh [--major N] bindir      print the bin directory that
#                                    start would use (installing it if needed)
#
# The major version to start is --major N, else $PG_MAJOR, else the newest one
# Debian's packages installed under /usr/lib/postgresql (15 today), else 15.
# A major that Debian's packages installed runs from /usr/lib/postgresql/N;
# any other (13 to 18) comes from hack/install-postgres.sh, which installs it
# into the project's tool directory the first time. PG_BINDIR=DIR starts the
# server in DIR instead (any build of the same major).
#
# The admin role is like an RDS master user: LOGIN CREATEROLE CREATEDB, not a
# superuser. Its name and password are in DIR/env (PGADMIN_USER,
# PGADMIN_PASSWORD), with the server's major (PGMAJOR) and bin directory
# (PGBINDIR). The server logs every DDL statement to DIR/log/postgres.log
# (log_statement = 'ddl'), so tests can count what ran. The settings are the
# same on every major. PostgreSQL refuses to run as root: as root the server
# runs as the 'postgres' system user. psql is the client installed (Debian's);
# it talks to every major.
set -euo pipefail

usage() {
	echo "usage: pg-throwaway.sh [--major N] start DIR | stop DIR | [--major N] bindir" >&2
	exit 2
}

major=${PG_MAJOR:-}
if [ "${1:-}" = "--major" ]; then
	major=${2:-}
	shift 2 || usage
fi
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || { [ -z "$dir" ] && [ "$cmd" != bindir ]; }; then
	usage
fi

# The bin directory of a major: Debian's when installed, else the project's.
bindir_of() {
	if [ -x "/usr/lib/postgresql/$1/bin/postgres" ]; then
		echo "/usr/lib/postgresql/$1/bin"
	else
		"$(dirname "$0")/install-postgres.sh" "$1"
	fi
}

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Sets major (when not given) and bindir, and checks that they agree.
find_server() {
	if [ -z "$major" ]; then
		for d in /usr/lib/postgresql/*/bin/postgres; do
			v=${d#/usr/lib/postgresql/}
			v=${v%%/*}
			[[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -gt "${major:-0}" ] && major=$v
		done
		major=${major:-15}
	fi
	[[ "$major" =~ ^[0-9]+$ ]] || { echo "pg-throwaway: not a major version: $major" >&2; exit 2; }
	bindir=${PG_BINDIR:-$(bindir_of "$major")}
	local got
	got=$("$bindir/postgres" --version) || { echo "pg-throwaway: no PostgreSQL in $bindir" >&2; exit 2; }
	# "postgres (PostgreSQL) 13.23" -> 13
	if [ "$(echo "$got" | sed -E 's/^[^0-9]*([0-9]+).*/\1/')" != "$major" ]; then
		echo "pg-throwaway: $bindir has $got, not PostgreSQL $major" >&2
		exit 2
	fi
}

case "$cmd" in
bindir)
	find_server
	echo "$bindir"
	;;
start)
	find_server
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
	chmod 0700 "$dir"
	# First what stop needs, so a start that fails half-way can be stopped.
	(umask 077 && printf 'PGMAJOR=%s\nPGBINDIR=%s\n' "$major" "$bindir" >"$dir/env")
	as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
		|| { cat "$dir/initdb.log" >&2; exit 1; }
	port=$(free_port)
	as_pg mkdir -p "$dir/log" "$dir/sock"
	# TLS as on RDS: a CA of its own and a server certificate for 127.0.0.1,
	# so clients can verify (sslmode=verify-full, sslrootcert=DIR/ca.crt).
	(
		cd "$dir"
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=appdb test CA" \
			-keyout ca.key -out ca.crt >/dev/null 2>&1
		openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
			-keyout server.key -out server.csr >/dev/null 2>&1
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-days 2 -extfile san.ext -out server.crt >/dev/null 2>&1
		rm -f server.csr san.ext ca.srl ca.key
		chmod 0600 server.key
		chmod 0644 ca.crt server.crt
		[ "$(id -u)" -ne 0 ] || chown postgres: server.key server.crt
	)
	cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
log_statement = 'ddl'
log_line_prefix = '%m [%p] %q%u@%d app=%a '
logging_collector = off
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
CONF
	# Loopback TCP needs a password (as on RDS); the local socket is the
	# superuser's back door for the test harness only. TCP is TLS only.
	cat >"$dir/data/pg_hba.conf" <<HBA
local all postgres trust
hostssl all all 127.0.0.1/32 scram-sha-256
HBA
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log/postgres.log" -w -t 60 start >/dev/null
	admin_pw=$(openssl rand -hex 16)
	as_pg psql -X -q -h "$dir/sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-v pw="$admin_pw" <<'SQL'
CREATE ROLE appdb_admin LOGIN CREATEROLE CREATEDB PASSWORD :'pw';
SQL
	umask 077
	cat >>"$dir/env" <<ENV
PGHOST=127.0.0.1
PGPORT=$port
PGSOCK=$dir/sock
PGLOG=$dir/log/postgres.log
PGADMIN_USER=appdb_admin
PGADMIN_PASSWORD=$admin_pw
PGCA=$dir/ca.crt
ENV
	[ "$(id -u)" -ne 0 ] || chmod 0644 "$dir/env"
	echo "PGPORT=$port"
	;;
stop)
	bindir=$(sed -n 's/^PGBINDIR=//p' "$dir/env" 2>/dev/null || true)
	if [ -d "$dir/data" ] && [ -n "$bindir" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	usage
	;;
esac
