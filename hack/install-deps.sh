#!/usr/bin/env bash
# Installs the Debian packages that the build, the tests and the demo need,
# only when something is missing. Uses sudo when not root.
set -euo pipefail

# Libraries and servers: checked as packages.
pkgs=(build-essential pkg-config ca-certificates openssl
      libcurl4-openssl-dev libjansson-dev libpq-dev libyaml-dev libssl-dev
      libcmocka-dev libmicrohttpd-dev libexpat1-dev
      postgresql postgresql-client)
# Tools: checked as commands (a machine may have them from elsewhere).
# promtool checks and tests the chart's PrometheusRule; lua5.1 runs the Argo CD
# health check (the Lua dialect Argo CD embeds).
declare -A tools=([python3]=python3 [git]=git [curl]=curl [unzip]=unzip [npm]=npm
                  [clang]=clang [psql]=postgresql-client [promtool]=prometheus
                  [lua5.1]=lua5.1)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
for t in "${!tools[@]}"; do
	command -v "$t" >/dev/null 2>&1 || missing+=("${tools[$t]}")
done

if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "installing: ${missing[*]}" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		$(printf '%s\n' "${missing[@]}" | sort -u) >&2
fi

# kubectl drives the API simulator in the tests and the demo.
"$(dirname "$0")/install-kubectl.sh"
