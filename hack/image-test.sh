#!/usr/bin/env bash
# Runs the image tests (make image-test, after make image):
# tests/packaging/test_image.py with the engine hack/image-engine.sh picks.
#
#   IMAGE=appdb-operator:0.1.0 SBOM=build/image/sbom.cdx.json hack/image-test.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/hack/image-engine.sh"
image_engine
export IMAGE_ENGINE="${ENGINE[0]}"
exec python3 "$root/tests/packaging/test_image.py"
