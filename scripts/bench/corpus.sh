#!/usr/bin/env bash
# corpus.sh — assemble the benchmark corpus of `make bench-processor` from
# photographs and wallpapers shipped in Debian packages, into a cache
# directory outside the repository, and print that directory.
#
#   corpus/                       the corpus of jobs (a), (b) and (d): 18 images
#     *.jpg   10 JPEGs: six 5120x2880 and one 3200x2000 KDE Plasma wallpapers
#             (plasma-workspace-wallpapers), three scikit-image photos
#             (python3-skimage: hubble_deep_field 1000x872, retina 1411x1411,
#             rocket 640x427)
#     *.png   4 PNGs: 5120x2880 Plasma wallpapers, two RGB (one with an ICC
#             profile), two RGBA
#     *.webp  4 WebPs: 4096x4096 GNOME backgrounds (gnome-backgrounds)
#   big/volna-50mp.jpg            a 9400x5288 (49.7 MP, just under the
#                                 processor's 50 MP limit) JPEG q90 made by
#                                 upscaling a wallpaper with vips: job (c)
#   MANIFEST.tsv                  name, package, source file, size, bytes, sha256
#
# Files are found with `dpkg -L`; missing packages are installed with apt-get
# (as root or through sudo). Idempotent: an existing complete corpus is kept.
#
# Usage: scripts/bench/corpus.sh        (IMAGEPIPE_BENCH_CACHE overrides the
#                                        cache directory, default
#                                        ${XDG_CACHE_HOME:-~/.cache}/imagepipe-bench)
set -euo pipefail

cache="${IMAGEPIPE_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagepipe-bench}"
dir="$cache/corpus"
stamp="$dir/.complete-v1"

die() { echo "corpus: $*" >&2; exit 1; }

if [[ -f "$stamp" ]]; then
	echo "$dir"
	exit 0
fi

pkgs=(plasma-workspace-wallpapers python3-skimage gnome-backgrounds libvips-tools)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "corpus: installing ${missing[*]}" >&2
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# pkgfile PACKAGE SUFFIX — the one file of PACKAGE whose path ends in /SUFFIX.
pkgfile() {
	local path
	path="$(dpkg -L "$1" | grep -E "/$2\$" | head -n 1 || true)"
	[[ -n "$path" && -f "$path" ]] || die "no file */$2 in package $1"
	echo "$path"
}

# name  package  suffix of the packaged file
sources=(
	"flow.jpg        plasma-workspace-wallpapers Flow/contents/images/5120x2880.jpg"
	"flow-dark.jpg   plasma-workspace-wallpapers Flow/contents/images_dark/5120x2880.jpg"
	"honeywave.jpg   plasma-workspace-wallpapers Honeywave/contents/images/5120x2880.jpg"
	"safelanding.jpg plasma-workspace-wallpapers SafeLanding/contents/images/5120x2880.jpg"
	"shell.jpg       plasma-workspace-wallpapers Shell/contents/images/5120x2880.jpg"
	"volna.jpg       plasma-workspace-wallpapers Volna/contents/images/5120x2880.jpg"
	"pastelhills.jpg plasma-workspace-wallpapers PastelHills/contents/images/3200x2000.jpg"
	"hubble.jpg      python3-skimage             skimage/data/hubble_deep_field.jpg"
	"retina.jpg      python3-skimage             skimage/data/retina.jpg"
	"rocket.jpg      python3-skimage             skimage/data/rocket.jpg"
	"altai.png       plasma-workspace-wallpapers Altai/contents/images/5120x2880.png"
	"milkyway.png    plasma-workspace-wallpapers MilkyWay/contents/images/5120x2880.png"
	"icecold.png     plasma-workspace-wallpapers IceCold/contents/images/5120x2880.png"
	"kay-dark.png    plasma-workspace-wallpapers Kay/contents/images_dark/5120x2880.png"
	"adwaita-l.webp  gnome-backgrounds           gnome/adwaita-l.webp"
	"licorice-d.webp gnome-backgrounds           gnome/licorice-d.webp"
	"grid-l.webp     gnome-backgrounds           gnome/grid-l.webp"
	"wood-l.webp     gnome-backgrounds           gnome/wood-l.webp"
)

tmp="$(mktemp -d "$cache/.corpus.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/corpus/big"
manifest="$tmp/corpus/MANIFEST.tsv"
printf 'name\tpackage\tsource\tsize\tbytes\tsha256\n' >"$manifest"

add() { # add NAME PACKAGE SOURCE-PATH FILE
	local size
	size="$(vipsheader -f width "$4")x$(vipsheader -f height "$4")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$size" "$(stat -c %s "$4")" "$(sha256sum "$4" | cut -d' ' -f1)" >>"$manifest"
}

for line in "${sources[@]}"; do
	read -r name pkg suffix <<<"$line"
	src="$(pkgfile "$pkg" "$suffix")"
	cp "$src" "$tmp/corpus/$name"
	add "$name" "$pkg" "$suffix" "$tmp/corpus/$name"
done

# ~50 MP: 5120x2880 x 1.8359375 = 9400x5288 = 49,707,200 pixels, under the
# processor's MaxPixels (50,000,000), so the processor accepts it.
vips resize "$tmp/corpus/volna.jpg" "$tmp/corpus/big/volna-50mp.jpg[Q=90,strip]" 1.8359375 --kernel lanczos3
px=$(($(vipsheader -f width "$tmp/corpus/big/volna-50mp.jpg") * $(vipsheader -f height "$tmp/corpus/big/volna-50mp.jpg")))
((px > 45000000 && px <= 50000000)) || die "big/volna-50mp.jpg has $px pixels"
add "big/volna-50mp.jpg" plasma-workspace-wallpapers "Volna/contents/images/5120x2880.jpg, vips resize x1.8359375, Q90" "$tmp/corpus/big/volna-50mp.jpg"

touch "$tmp/corpus/.complete-v1"
rm -rf "$dir"
mkdir -p "$cache"
mv "$tmp/corpus" "$dir"
echo "corpus: $(($(wc -l <"$dir/MANIFEST.tsv") - 1)) files in $dir" >&2
echo "$dir"
