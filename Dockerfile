# syntax=docker/dockerfile:1
# One image for every target: docker-compose.yml runs it as status, ingest,
# processor and gateway (and `imagepipe init` once).

FROM golang:1.26-bookworm AS build
# pkg-config, curl and openssl for scripts/libvips.sh (libvips 8.18 as
# prebuilt by sharp-libvips, checked against its pinned SHA-512);
# libheif-dev: HEIC is decoded with Debian's libheif (internal/engine/imaging/heif.go).
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config curl ca-certificates openssl libheif-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY scripts/libvips.sh scripts/
RUN IMAGEPIPE_CACHE=/opt/imagepipe scripts/libvips.sh install \
 && mkdir -p /out/lib \
 && cp "$(IMAGEPIPE_CACHE=/opt/imagepipe scripts/libvips.sh lib)"/libvips-cpp.so.* /out/lib/
COPY . .
RUN export PKG_CONFIG_PATH="$(IMAGEPIPE_CACHE=/opt/imagepipe scripts/libvips.sh pc)" \
 && CGO_ENABLED=1 CGO_CFLAGS="-O2 -DIMAGEPIPE_LIBVIPS=$(scripts/libvips.sh version)" \
    go build -trimpath -ldflags="-s -w" -o /out/imagepipe ./cmd/imagepipe

# Runtime: the bundled libvips (one shared library with its codecs inside),
# Debian's libheif for HEIC, no compilers, no headers; a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libheif1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /var/lib/imagepipe imagepipe
COPY --from=build /out/lib/ /usr/local/lib/
RUN ldconfig
COPY --from=build /out/imagepipe /usr/local/bin/imagepipe
USER 10001
WORKDIR /var/lib/imagepipe
ENV IMAGEPIPE_DATA_DIR=/var/lib/imagepipe/data
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/imagepipe"]
