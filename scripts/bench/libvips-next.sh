#!/usr/bin/env bash
# libvips-next.sh — EXPERIMENT for `make bench-processor`: build imagepipe
# against the newer libvips that sharp ships (npm @img/sharp-libvips-linux-x64,
# with the headers of @img/sharp-libvips-dev of the same version) instead of
# Debian's libvips 8.14, to measure what upgrading libvips alone changes.
# Same Go code, same govips; only the C library differs. Prints the binary's
# path (in the benchmark cache, never in the repository).
#
# Not for production: that library is sharp's build (no ImageMagick, PDF or
# OpenSlide loaders), so the one govips symbol it lacks,
# vips_magickload_buffer, is stubbed to fail (imagepipe never loads through
# ImageMagick: untrusted loaders are blocked).
#
# Usage: scripts/bench/libvips-next.sh NODE_MODULES   (the directory peers.sh prints)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${IMAGEPIPE_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagepipe-bench}"
node_modules="${1:?usage: libvips-next.sh NODE_MODULES}"
lib="$node_modules/@img/sharp-libvips-linux-x64/lib"
so="$(cd "$lib" && ls libvips-cpp.so.* | head -n 1)"
[[ -n "$so" ]] || { echo "libvips-next: no libvips-cpp.so in $lib" >&2; exit 1; }
version="$(node -p "require('$node_modules/@img/sharp-libvips-linux-x64/package.json').version")"
vips_version="${so#libvips-cpp.so.}"

dir="$cache/libvips-next"
mkdir -p "$dir/pc"
if [[ ! -d "$dir/node_modules/@img/sharp-libvips-dev/include/vips" ]] ||
	[[ "$(node -p "require('$dir/node_modules/@img/sharp-libvips-dev/package.json').version")" != "$version" ]]; then
	echo "libvips-next: installing @img/sharp-libvips-dev@$version (headers) into $dir" >&2
	[[ -f "$dir/package.json" ]] || echo '{"private": true, "description": "imagepipe bench-processor libvips experiment"}' >"$dir/package.json"
	(cd "$dir" && npm install --no-audit --no-fund --save-exact "@img/sharp-libvips-dev@$version" >&2)
fi
inc="$dir/node_modules/@img/sharp-libvips-dev/include"

cat >"$dir/stubs.c" <<'C'
/* sharp's libvips has no ImageMagick loader; govips references it. */
int vips_magickload_buffer(void *buf, unsigned long len, void **out, ...) { return -1; }
C
gcc -O2 -c "$dir/stubs.c" -o "$dir/stubs.o"
ar rcs "$dir/libvipsstubs.a" "$dir/stubs.o"
cat >"$dir/pc/vips.pc" <<PC
Name: vips
Description: sharp's prebuilt libvips $vips_version (benchmark experiment only)
Version: $vips_version
Cflags: -I$inc -I$inc/glib-2.0 -I$lib/glib-2.0/include
Libs: -L$dir -lvipsstubs -L$lib -l:$so -Wl,-rpath,$lib
PC

out="$cache/imagepipe-libvips-$vips_version"
# The define only changes the cgo cache key: go's build cache does not see
# PKG_CONFIG_PATH, and must not reuse govips built against Debian's libvips.
(cd "$repo" && PKG_CONFIG_PATH="$dir/pc" CGO_CFLAGS="-O2 -g -DIMAGEPIPE_LIBVIPS_NEXT=$vips_version" \
	go build -o "$out" ./cmd/imagepipe)
ldd "$out" | grep -q "libvips-cpp.so.$vips_version" || { echo "libvips-next: $out is not linked against $so" >&2; exit 1; }
echo "$out"
