#!/usr/bin/env bash
# Installs the pinned code generators and buf with `go install`, into a cache
# outside the repository, and prints the directory to put on PATH.
# A tool is rebuilt only when its pinned version changes.
# With names (`scripts/tools.sh promtool`) it installs only those: promtool
# is a large build (about 12 CPU-minutes, once) only `make check-observability`
# needs, so `make generate` does not wait for it; helm likewise is built only
# for `make check-helm`.
set -euo pipefail

tools_dir="${IMAGEPIPE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imagepipe/tools}"
bin="$tools_dir/bin"
mkdir -p "$bin" "$tools_dir/stamps"

# name  module@version
pinned=(
  "buf                     github.com/bufbuild/buf/cmd/buf@v1.75.0"
  "protoc-gen-go           google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11"
  "protoc-gen-go-grpc      google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.1"
  "protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@v2.32.0"
  "protoc-gen-openapiv2    github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@v2.32.0"
  "grpcurl                 github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3"
)
# Installed only when named. promtool checks and unit-tests the alerting
# rules in deploy/observability. v0.316.0 is Prometheus 3.16.0; 3.11 to
# 3.15 cannot be built with `go install` (their go.mod has replace
# directives). Debian 12's prometheus package (2.42) would also start a
# server on :9090, imagepipe's gRPC port.
# helm lints and renders the chart in deploy/helm.
on_request=(
  "promtool                github.com/prometheus/prometheus/cmd/promtool@v0.316.0"
  "helm                    helm.sh/helm/v4/cmd/helm@v4.3.2"
)

selected=()
if [[ $# -eq 0 ]]; then
  selected=("${pinned[@]}")
else
  for want in "$@"; do
    found=""
    for line in "${pinned[@]}" "${on_request[@]}"; do
      read -r name _ <<<"$line"
      if [[ "$name" == "$want" ]]; then selected+=("$line"); found=1; fi
    done
    if [[ -z "$found" ]]; then echo "tools: no pinned tool named $want" >&2; exit 2; fi
  done
fi

for line in "${selected[@]}"; do
  read -r name pkg <<<"$line"
  stamp="$tools_dir/stamps/$name@${pkg##*@}"
  if [[ -x "$bin/$name" && -f "$stamp" ]]; then continue; fi
  echo "tools: go install $pkg" >&2
  # Outside the module so the project's go.mod is neither read nor changed.
  (cd "$tools_dir" && GOFLAGS=-mod=mod GOBIN="$bin" go install "$pkg")
  rm -f "$tools_dir/stamps/$name@"*
  touch "$stamp"
done
echo "$bin"
