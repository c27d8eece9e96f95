#!/usr/bin/env bash
# Installs the Debian packages that the build, the tests and the demo need,
# only when something is missing. Uses sudo when not root.
set -euo pipefail

pkgs=(build-essential pkg-config git ca-certificates openssl curl
      libcurl4-openssl-dev libjansson-dev libpq-dev libyaml-dev libssl-dev
      libcmocka-dev libmicrohttpd-dev libexpat1-dev
      postgresql postgresql-client python3 clang npm unzip)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "installing: ${missing[*]}" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
