#!/usr/bin/env bash
# peers.sh — install the tools `make bench-processor` compares imagepipe
# with, only when missing: Debian packages (vipsthumbnail, ImageMagick,
# ffmpeg, djpeg, Pillow, GNU time, curl) through apt-get (as root or through
# sudo), and sharp from the npm registry into the benchmark cache directory
# (never into the repository). Prints the sharp node_modules directory.
set -euo pipefail

cache="${IMAGEPIPE_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagepipe-bench}"
sharp_version=0.35.5

pkgs=(libvips-tools libvips-dev imagemagick ffmpeg libjpeg-turbo-progs python3-pil curl nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs/npm may come from elsewhere than Debian: only the commands matter.
if command -v node >/dev/null && command -v npm >/dev/null; then
	keep=()
	for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || keep+=("$p"); done
	missing=("${keep[@]}")
fi
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "peers: installing ${missing[*]}" >&2
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

dir="$cache/sharp"
mkdir -p "$dir"
have="$(cd "$dir" && node -p "require('sharp').versions.sharp" 2>/dev/null || true)"
if [[ "$have" != "$sharp_version" ]]; then
	echo "peers: installing sharp@$sharp_version into $dir" >&2
	[[ -f "$dir/package.json" ]] || echo '{"private": true, "description": "imagepipe bench-processor peer"}' >"$dir/package.json"
	(cd "$dir" && npm install --no-audit --no-fund --save-exact "sharp@$sharp_version" >&2)
fi
(cd "$dir" && node -e "require('sharp')") || { echo "peers: sharp does not load" >&2; exit 1; }
echo "$dir/node_modules"
