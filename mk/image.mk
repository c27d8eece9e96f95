# The container image (docs/packaging.md): podman, or docker where that is the
# engine present; hack/image-engine.sh installs podman and runc when neither
# runs, hack/image-bases.sh makes the Debian bases when no registry has them.
#
#   make image        build appdb-operator:$(VERSION) and its SBOM
#   make image-test   run it as the chart's Deployment does, to Ready
#
# The image suite builds its own binary inside the image, so `make asan`
# skips it like the suites that never run the C code.
TEST_SUITES += image
PURE_PYTHON_SUITES += image

IMAGE ?= appdb-operator:$(VERSION)
SBOM  ?= $(abspath $(BUILD))/image/sbom.cdx.json

.PHONY: image image-test test-image
image:
	@IMAGE=$(IMAGE) VERSION=$(VERSION) BUILD_ID=$(BUILD_ID) SBOM=$(SBOM) hack/image-build.sh

image-test: image
	@IMAGE=$(IMAGE) BUILD_ID=$(BUILD_ID) SBOM=$(SBOM) hack/image-test.sh

test-image: image-test
