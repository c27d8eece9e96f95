# appdb-operator container image.
#
#   make image        (podman, or docker where that is the engine present)
#   make image-test   runs it as the chart's Deployment does, to Ready
#
# or by hand:
#
#   docker build --build-arg BUILD_ID=$(git describe --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t appdb-operator:0.1.0 .
#
# Two stages on Debian bookworm: the first installs the -dev packages and runs
# make, which compiles with Debian's hardening flags (dpkg-buildflags,
# hardening=+all: PIE, full RELRO, BIND_NOW, stack protector, FORTIFY); the
# second is bookworm-slim with only the shared libraries the binary links (see
# tests/packaging/test_dockerfile.py, which compares this list with the
# binary's NEEDED entries), CA certificates, and the binary. It runs as a
# numeric non-root user and starts the binary directly (exec form, no shell).
# The cache directory is a VOLUME, so `run --read-only` works with no mount
# (the chart mounts an emptyDir or a claim there). docs/packaging.md has the
# details, the labels and the SBOM.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libcurl4-openssl-dev libjansson-dev libpq-dev libyaml-dev libssl-dev \
      libmicrohttpd-dev libexpat1-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY operator/ operator/
ARG BUILD_ID=unknown
RUN make -j"$(nproc)" HARDEN=1 BUILD_ID="${BUILD_ID}" \
 && strip --strip-unneeded bin/appdb-operator \
 && bin/appdb-operator version

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4 libjansson4 libpq5 libyaml-0-2 libssl3 libmicrohttpd12 libexpat1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /etc/appdb-operator /var/cache/appdb-operator \
 && chown 65532:65532 /var/cache/appdb-operator
COPY --from=build /src/bin/appdb-operator /usr/local/bin/appdb-operator
USER 65532:65532
VOLUME ["/var/cache/appdb-operator"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/appdb-operator"]
CMD ["run"]
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
ARG LICENSES=NOASSERTION
LABEL org.opencontainers.image.title="appdb-operator" \
      org.opencontainers.image.description="AppDatabase resources to PostgreSQL databases, roles and grants" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
