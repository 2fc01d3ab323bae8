#!/usr/bin/env bash
# load.sh — what `make bench-load` runs (after building bin/imagepipe):
# install nginx when it is missing (Debian's package, through apt-get as
# root or through sudo), then the load tool, scripts/bench/load, which
# drives bin/imagepipe and nginx with vegeta, prints the tables and
# rewrites the bench-load section of docs/BENCHMARKS.md. Extra arguments go
# to the tool (e.g. -duration 30s; `go run ./scripts/bench/load -h` lists
# them).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
	echo "load: installing nginx" >&2
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends nginx >&2
fi
exec "${GO:-go}" run ./scripts/bench/load -imagepipe bin/imagepipe -doc docs/BENCHMARKS.md "$@"
