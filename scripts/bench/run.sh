#!/usr/bin/env bash
# run.sh — what `make bench-processor` runs (after building bin/imagepipe):
# install the peers, assemble the corpus, build the same imagepipe against
# Debian's libvips 8.14 (LIBVIPS=system) for a comparison row
# (BENCH_LIBVIPS_SYSTEM=0 skips it), then scripts/bench/bench.py, which waits
# for a quiet machine, measures every tool 3 times, prints the tables and
# rewrites the generated section of docs/BENCHMARKS.md. Extra arguments go
# to bench.py (e.g. --reps 1 --max-load 100 --only a,b for a quick look;
# bench.py --help lists them).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
node_path="$(scripts/bench/peers.sh)"
corpus="$(scripts/bench/corpus.sh)"
also=()
if [[ "${BENCH_LIBVIPS_SYSTEM:-1}" != 0 ]]; then
	cache="${IMAGEPIPE_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagepipe-bench}"
	v="$(env -u PKG_CONFIG_PATH pkg-config --modversion vips)"
	sys="$cache/imagepipe-libvips-$v"
	# A CGO_CFLAGS of its own: Go's build cache does not see PKG_CONFIG_PATH.
	env -u PKG_CONFIG_PATH CGO_CFLAGS="-O2 -g -DIMAGEPIPE_LIBVIPS=system" go build -o "$sys" ./cmd/imagepipe
	ldd "$sys" | grep -q 'libvips\.so\.42' || { echo "run.sh: $sys is not linked against Debian's libvips" >&2; exit 1; }
	also=(--also "imagepipe, Debian libvips $v=$sys")
fi
exec /usr/bin/python3 scripts/bench/bench.py --imagepipe bin/imagepipe --corpus "$corpus" --node-path "$node_path" \
	"${also[@]}" --doc docs/BENCHMARKS.md "$@"
