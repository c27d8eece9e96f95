#!/usr/bin/env bash
# Builds the image from the Dockerfile and writes its SBOM (make image).
#
#   hack/image-build.sh
#
# Environment (mk/image.mk sets them from the Makefile): IMAGE (default
# appdb-operator:$VERSION), VERSION, BUILD_ID (compiled into the binary),
# SBOM (the CycloneDX file to write, default build/image/sbom.cdx.json),
# IMAGE_SOURCE (the org.opencontainers.image.source label; default: the
# git remote "origin"), IMAGE_LICENSES (default NOASSERTION: the project
# states no license yet). The bases come from hack/image-bases.sh when the
# engine has none. Build steps use the host's network, so apt in them reaches
# the same mirror as the host's apt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. hack/image-engine.sh
image_engine

version=${VERSION:-$(sed -n 's/^VERSION *:= *//p' Makefile)}
image=${IMAGE:-appdb-operator:$version}
build_id=${BUILD_ID:-$(git describe --always --dirty 2>/dev/null || echo unknown)}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# created: the commit's time for a clean build (SOURCE_DATE_EPOCH wins), so
# building the same commit again is all cache and adds no image; the build's
# time when the sources have changes.
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
if git diff --quiet HEAD -- Makefile operator 2>/dev/null; then
	epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || true)}
	[ -z "$epoch" ] || created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
else
	revision="$revision-dirty"
fi
source_url=${IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null | sed -E 's#^[a-z]+://[^/@]*@#https://#' || true)}
sbom=${SBOM:-$root/build/image/sbom.cdx.json}

hack/image-bases.sh

old=$("${ENGINE[@]}" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
pull=()
[ "${ENGINE[0]}" != podman ] || pull=(--pull=never)
start=$(date +%s)
# The labels go in as build arguments (for the Dockerfile's LABEL) and again
# as --label: buildah's layer cache keys LABEL by its text, not by the
# arguments' values, so a cached LABEL step would keep an older revision.
labels=(
	org.opencontainers.image.version="$version"
	org.opencontainers.image.revision="$revision"
	org.opencontainers.image.created="$created"
	org.opencontainers.image.source="${source_url:-unknown}"
	org.opencontainers.image.licenses="${IMAGE_LICENSES:-NOASSERTION}"
)
args=(--build-arg BUILD_ID="$build_id")
for l in "${labels[@]}"; do
	k=${l%%=*}
	k=${k##*.}
	args+=(--build-arg "${k^^}=${l#*=}" --label "$l")
done
"${ENGINE[@]}" build "${pull[@]}" --network host -t "$image" "${args[@]}" -f Dockerfile . >&2
new=$("${ENGINE[@]}" image inspect --format '{{.Id}}' "$image")
# The image this tag named before is of no use once nothing names it.
if [ -n "$old" ] && [ "$old" != "$new" ]; then
	"${ENGINE[@]}" image rm "$old" >/dev/null 2>&1 || true
fi
python3 hack/image-sbom.py --image "$image" --out "$sbom" "${ENGINE[@]}"
size=$("${ENGINE[@]}" image inspect --format '{{.Size}}' "$image")
echo "image: $image (${new:0:12}, $((size / 1000000)) MB, build $build_id) in $(($(date +%s) - start)) s; SBOM $sbom" >&2
