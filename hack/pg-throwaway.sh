#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests, the demo and the benchmarks.
#
#   hack/pg-throwaway.sh start DIR   initdb in DIR, start on a free loopback
#                                    port, create the delegated admin role;
#                                    prints "PGPORT=<port>" and writes DIR/env
#   hack/pg-throwaway.sh stop DIR    stop the server and remove DIR
#
# The admin role is like an RDS master user: LOGIN CREATEROLE CREATEDB, not a
# superuser. Its name and password are in DIR/env (PGADMIN_USER,
# PGADMIN_PASSWORD). The server logs every DDL statement to DIR/log/postgres.log
# (log_statement = 'ddl'), so tests can count what ran. PostgreSQL refuses to
# run as root: as root the server runs as the 'postgres' system user.
set -euo pipefail

cmd=${1:?usage: pg-throwaway.sh start|stop DIR}
dir=${2:?usage: pg-throwaway.sh start|stop DIR}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "pg-throwaway: no PostgreSQL server installed" >&2; exit 2; }

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

case "$cmd" in
start)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
	chmod 0700 "$dir"
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
	cat >"$dir/env" <<ENV
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
	if [ -d "$dir/data" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: pg-throwaway.sh start|stop DIR" >&2
	exit 2
	;;
esac
