#!/usr/bin/env bash
# Installs the pinned code generators and buf with `go install`, into a cache
# outside the repository, and prints the directory to put on PATH.
# A tool is rebuilt only when its pinned version changes.
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

for line in "${pinned[@]}"; do
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
