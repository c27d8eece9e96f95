#!/usr/bin/env bash
# Makes the base images the Dockerfile names, debian:bookworm and
# debian:bookworm-slim, from Debian's own packages, when the engine does not
# have them yet: for machines where no image registry answers.
#
#   hack/image-bases.sh            make what is missing (a no-op once cached)
#   hack/image-bases.sh --force    make both again (for newer packages)
#
# debootstrap --variant=minbase bookworm from the Debian mirror apt uses here
# (/etc/apt/sources.list*, or DEBIAN_MIRROR=URL), with apt sources for
# bookworm, bookworm-updates and bookworm-security as Debian's own images
# have. The slim variant drops documentation (copyright files stay), man
# pages and locales, now and for packages installed later, as
# debian:bookworm-slim does. Both are `import`ed into the engine's storage,
# which is the cache: a second run finds them and does nothing. Where a
# registry answers, `podman pull debian:bookworm debian:bookworm-slim` gives
# the same names and this script leaves them alone.
set -euo pipefail

. "$(dirname "$0")/image-engine.sh"
image_engine

force=0
[ "${1:-}" = "--force" ] && force=1

have() { "${ENGINE[@]}" image inspect "$1" >/dev/null 2>&1; }
if [ $force -eq 0 ] && have debian:bookworm && have debian:bookworm-slim; then
	exit 0
fi

command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || image_apt_install debootstrap
PATH=$PATH:/usr/sbin

# The first URI that serves the suite asked for, from one-line or deb822 sources.
mirror_for() {
	local suite=$1
	local f files=()
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && files+=("$f")
	done
	[ ${#files[@]} -gt 0 ] || return 0
	cat "${files[@]}" |
		awk -v suite="$suite" '
		/^[ \t]*#/ { next }
		/^deb[ \t]/ {
			n = split($0, f, /[ \t]+/); i = 2
			if (f[i] ~ /^\[/) { while (i <= n && f[i] !~ /\]$/) i++; i++ }
			if (f[i + 1] == suite) { print f[i]; exit }
			next
		}
		/^URIs:/ { uri = $2; next }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite && uri != "") { print uri; exit } }
		/^[ \t]*$/ { uri = "" }'
}
mirror=${DEBIAN_MIRROR:-$(mirror_for bookworm)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-$(mirror_for bookworm-security)}
security=${security:-http://deb.debian.org/debian-security}

work=$(mktemp -d "${TMPDIR:-/var/tmp}/appdb-bases.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "image-bases: debootstrap bookworm from $mirror" >&2
start=$(date +%s)
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -n 30 "$work/debootstrap.log" >&2
	exit 1
}

# What Debian's images carry: deb822 sources, no downloaded packages or lists.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
	"$root"/var/log/* "$root"/tmp/* "$root"/root/.cache 2>/dev/null || true
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT
printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
: >"$root/etc/machine-id"
rm -f "$root/etc/hostname" "$root/etc/resolv.conf"

import_base() {
	local dir=$1 name=$2
	tar --numeric-owner --xattrs -C "$dir" -c . |
		"${ENGINE[@]}" import -q --change 'CMD ["bash"]' \
			--change "LABEL dev.platform.appdb.base=debootstrap bookworm $mirror" - "$name" >/dev/null
	echo "image-bases: imported $name" >&2
}
import_base "$root" debian:bookworm

# The slim variant.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
DPKG
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/groff/* "$root"/usr/share/info/* \
	"$root"/usr/share/lintian/* "$root"/usr/share/linda/* "$root"/usr/share/locale/*
import_base "$root" debian:bookworm-slim
echo "image-bases: done in $(($(date +%s) - start)) s" >&2
