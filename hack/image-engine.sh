# Sourced by the image scripts (hack/image-*.sh): picks the container engine
# and sets the array ENGINE to the command that runs it.
#
#   IMAGE_ENGINE=podman|docker   force one (default: podman when installed,
#                                else a docker whose daemon answers, else
#                                podman installed with apt-get)
#
# podman gets a containers.conf of the project's own in the tool directory
# (APPDB_TOOLS, default .tools/), through CONTAINERS_CONF, unless the caller
# set CONTAINERS_CONF already: runc (crun refuses hybrid cgroup hierarchies),
# the cgroupfs manager and file events (no systemd needed), and ulimits that
# fit under this machine's hard limits (podman's default nofile of 1048576
# does not fit everywhere). The machine's /etc is left alone.

image_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image_tools=${APPDB_TOOLS:-$image_root/.tools}

# apt-get install of the Debian packages named, when a command is missing.
image_apt_install() {
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	command -v apt-get >/dev/null || {
		echo "image: $* missing and no apt-get to install them" >&2
		return 2
	}
	echo "image: installing $*" >&2
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

image_podman_conf() {
	local conf="$image_tools/containers.conf" nofile nproc
	nofile=$(ulimit -Hn)
	nproc=$(ulimit -Hu)
	[ "$nofile" != unlimited ] && [ "$nofile" -lt 1048576 ] || nofile=1048576
	[ "$nproc" != unlimited ] && [ "$nproc" -lt 32768 ] || nproc=32768
	mkdir -p "$image_tools"
	cat >"$conf.tmp.$$" <<CONF
# Written by hack/image-engine.sh; used through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
	mv -f "$conf.tmp.$$" "$conf"
	export CONTAINERS_CONF="$conf"
}

image_engine() {
	local want=${IMAGE_ENGINE:-}
	if [ -z "$want" ]; then
		if command -v podman >/dev/null; then
			want=podman
		elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
			want=docker
		else
			want=podman
		fi
	fi
	case "$want" in
	podman)
		local missing=()
		command -v podman >/dev/null || missing+=(podman)
		command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
		[ ${#missing[@]} -eq 0 ] || image_apt_install "${missing[@]}"
		[ -n "${CONTAINERS_CONF:-}" ] || image_podman_conf
		ENGINE=(podman)
		;;
	docker)
		ENGINE=(docker)
		;;
	*)
		echo "image: unknown IMAGE_ENGINE=$want (podman or docker)" >&2
		return 2
		;;
	esac
}
