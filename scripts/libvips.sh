#!/usr/bin/env bash
# libvips.sh — make the libvips that imagepipe links against available, and
# print the directory to put in PKG_CONFIG_PATH.
#
# By default (LIBVIPS=bundled) that is libvips 8.18, as prebuilt by the
# sharp project (npm @img/sharp-libvips-*: one shared library with its
# dependencies inside, LGPL-3.0), fetched from the npm registry with curl and
# checked against the pinned SHA-512, into a cache outside the repository
# (~/.cache/imagepipe, or $IMAGEPIPE_CACHE). Debian 12 ships libvips 8.14,
# which costs 12-16 % more CPU per image and 17 MiB more idle memory
# (docs/BENCHMARKS.md); ARCHITECTURE.md says why this build and not another.
#
# LIBVIPS=system uses the distribution's libvips (apt's libvips-dev, 8.14 on
# Debian 12) through its own pkg-config file and prints nothing.
#
# The binary finds the library through its rpath (the cache directory) or,
# where that does not exist, the linker's search path (the Dockerfile copies
# it to /usr/local/lib). Go's build cache does not see PKG_CONFIG_PATH: the
# Makefile sets CGO_CFLAGS per library so objects built against the two
# never mix.
#
# Usage: scripts/libvips.sh install    fetch it unless cached (scripts/deps.sh runs this)
#        scripts/libvips.sh pc         print the pkg-config directory (does not fetch)
#        scripts/libvips.sh lib        print the directory holding the .so
#        scripts/libvips.sh version    print the libvips version
set -euo pipefail

# sharp-libvips 1.3.4 = libvips 8.18.7 (the libvips of sharp 0.35.5).
version=1.3.4
vips_version=8.18.7
declare -A integrity=(
	[linux-x64]='sha512-GJ//SSXbnwSDes02umB3nDJLFcQzw8a18V8fyhqr6tV515tOEMdImjjxj1AoafMRz56F3PHgftnj1QEKSU1zkw=='
	[linux-arm64]='sha512-Y3dgX/6lE2QhQb+Gxy0WZxfg9MEm/JBjamZpS2IklP7xIQoKN4hzAm7KcMVGtaVDt3neE9OKBC7vAfonA/Lr1A=='
	[dev]='sha512-s1VIq6p83pWGi1hk7VLdfRiI6DUolGYqbpCNu4zdEIbKjlbdR9zHFpIiY6wQtnbn5jSfu9+E/PSC26tkONer2Q=='
)

[[ "${LIBVIPS:-bundled}" == system ]] && exit 0
cmd="${1:-}"
case "$cmd" in
	install | pc | lib | version) ;;
	*) echo "usage: scripts/libvips.sh install|pc|lib|version" >&2; exit 2 ;;
esac
[[ "${LIBVIPS:-bundled}" == bundled ]] || { echo "libvips: LIBVIPS must be bundled or system, not ${LIBVIPS}" >&2; exit 2; }

case "$(uname -m)" in
	x86_64) platform=linux-x64 ;;
	aarch64 | arm64) platform=linux-arm64 ;;
	*) echo "libvips: no prebuilt libvips for $(uname -m); use LIBVIPS=system" >&2; exit 1 ;;
esac
if ! getconf GNU_LIBC_VERSION >/dev/null 2>&1; then
	echo "libvips: the prebuilt libvips needs glibc; use LIBVIPS=system" >&2
	exit 1
fi

cache="${IMAGEPIPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagepipe}"
dir="$cache/libvips-$vips_version-$platform"
lib="$dir/$platform/lib"
inc="$dir/dev/include"

case "$cmd" in
	pc) echo "$dir/pc"; exit 0 ;;
	lib) echo "$lib"; exit 0 ;;
	version) echo "$vips_version"; exit 0 ;;
esac

mkdir -p "$cache"
# One install at a time (builds sharing the cache): wait for the lock, then
# look again.
exec 9>"$cache/.libvips.lock"
flock 9
if [[ ! -f "$dir/pc/vips.pc" ]]; then
	for tool in curl openssl gcc ar; do
		command -v "$tool" >/dev/null || { echo "libvips: $tool is needed (apt-get install curl openssl gcc binutils)" >&2; exit 1; }
	done
	tmp="$(mktemp -d "$cache/.libvips.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	for pkg in "$platform" dev; do
		url="https://registry.npmjs.org/@img/sharp-libvips-$pkg/-/sharp-libvips-$pkg-$version.tgz"
		echo "libvips: fetching $url" >&2
		curl -fsSL --retry 3 -o "$tmp/$pkg.tgz" "$url"
		want="${integrity[$pkg]#sha512-}"
		got="$(openssl dgst -sha512 -binary "$tmp/$pkg.tgz" | base64 -w0)"
		if [[ "$got" != "$want" ]]; then
			echo "libvips: $url does not match its pinned SHA-512 (got sha512-$got)" >&2
			exit 1
		fi
		mkdir -p "$tmp/out/$pkg"
		tar -xzf "$tmp/$pkg.tgz" -C "$tmp/out/$pkg" --strip-components=1
	done
	so="$(cd "$tmp/out/$platform/lib" && ls libvips-cpp.so.*)"
	[[ "$so" == "libvips-cpp.so.$vips_version" ]] || { echo "libvips: expected libvips-cpp.so.$vips_version, found $so" >&2; exit 1; }

	# govips references the ImageMagick loader, which sharp's build leaves
	# out; imagepipe never uses it (sniff only admits formats libvips loads
	# itself), so a stub that fails stands in for it.
	mkdir -p "$tmp/out/pc"
	cat >"$tmp/stubs.c" <<'C'
/* sharp's libvips has no ImageMagick loader; govips references it. */
int vips_magickload_buffer(void *buf, unsigned long len, void **out, ...) { return -1; }
C
	gcc -O2 -fPIC -c "$tmp/stubs.c" -o "$tmp/stubs.o"
	ar rcs "$tmp/out/pc/libvipsstubs.a" "$tmp/stubs.o"

	cat >"$tmp/out/pc/vips.pc" <<PC
Name: vips
Description: libvips $vips_version as prebuilt by sharp-libvips $version (scripts/libvips.sh)
Version: $vips_version
Cflags: -I$inc -I$inc/glib-2.0 -I$lib/glib-2.0/include
Libs: -L$dir/pc -lvipsstubs -L$lib -l:$so -Wl,-rpath,$lib
PC
	rm -rf "$dir"
	mv -T "$tmp/out" "$dir"
fi
[[ -d "$lib" && -d "$inc/vips" ]] || { echo "libvips: $dir is incomplete; remove it and run again" >&2; exit 1; }

