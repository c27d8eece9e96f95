# appdb-operator container image.
#
#   docker build --build-arg BUILD_ID=$(git describe --always --dirty) -t appdb-operator:0.1.0 .
#
# Two stages on Debian bookworm: the first installs the -dev packages and runs
# make; the second is bookworm-slim with only the shared libraries the binary
# links (see tests/packaging/test_dockerfile.py, which compares this list with
# the binary's NEEDED entries), CA certificates, and the binary. It runs as a
# numeric non-root user and starts the binary directly (exec form, no shell).
# The test suite does not build this image (no container engine runs on the
# build machines); docs/packaging.md says how it is checked instead.

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
RUN make -j"$(nproc)" BUILD_ID="${BUILD_ID}" \
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
LABEL org.opencontainers.image.title="appdb-operator" \
      org.opencontainers.image.description="AppDatabase resources to PostgreSQL databases, roles and grants" \
      org.opencontainers.image.version="0.1.0"
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/appdb-operator"]
CMD ["run"]
