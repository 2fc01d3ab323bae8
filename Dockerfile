# syntax=docker/dockerfile:1
# One image for every target: docker-compose.yml runs it as status, ingest,
# processor and gateway (and `imagepipe init` once).

FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvips-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/imagepipe ./cmd/imagepipe

# Runtime: only the libvips shared library (libvips42 is 8.14 on bookworm),
# no compilers, no headers; a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvips42 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /var/lib/imagepipe imagepipe
COPY --from=build /out/imagepipe /usr/local/bin/imagepipe
USER 10001
WORKDIR /var/lib/imagepipe
ENV IMAGEPIPE_DATA_DIR=/var/lib/imagepipe/data
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/imagepipe"]
