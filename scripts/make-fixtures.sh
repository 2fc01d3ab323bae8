#!/usr/bin/env bash
# make-fixtures.sh — regenerate testdata/photos/ from real photographs that
# ship in Debian packages.
#
# Sources (read-only, located with `dpkg -L`):
#   lomiri-wallpapers-16.04  seeding_by_Clements_Engelhardt.jpg  (CC0-1.0)
#   python3-skimage          skimage/data/coffee.png             (CC0)
#   python3-skimage          skimage/data/chelsea.png            (CC0)
#
# Tools: vips / vipsthumbnail (libvips-tools), exiftool (libimage-exiftool-perl).
#
# The script is idempotent: every output is rebuilt from the package data in a
# temporary directory and then moved into place, so running it twice gives the
# same files (for the same tool versions).
#
# Usage: scripts/make-fixtures.sh            (run from anywhere in the repo)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$repo_root/testdata/photos"

die() { echo "make-fixtures: $*" >&2; exit 1; }

for tool in vips vipsthumbnail exiftool dpkg; do
	command -v "$tool" >/dev/null 2>&1 || die "missing tool '$tool' (apt-get install libvips-tools libimage-exiftool-perl)"
done

# pkgfile PACKAGE SUFFIX — the single file of PACKAGE whose path ends in SUFFIX.
pkgfile() {
	local pkg="$1" suffix="$2" path
	dpkg -s "$pkg" >/dev/null 2>&1 || die "Debian package '$pkg' is not installed (apt-get install -y $pkg)"
	path="$(dpkg -L "$pkg" | grep -E "/${suffix}\$" | head -n 1 || true)"
	[ -n "$path" ] && [ -f "$path" ] || die "package '$pkg' has no file ending in '$suffix'"
	printf '%s\n' "$path"
}

seeding="$(pkgfile lomiri-wallpapers-16.04 'seeding_by_Clements_Engelhardt\.jpg')"
coffee="$(pkgfile python3-skimage 'skimage/data/coffee\.png')"
chelsea="$(pkgfile python3-skimage 'skimage/data/chelsea\.png')"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Metadata written into the EXIF-carrying JPEGs. Fixed values so the output is
# reproducible; the camera is fictitious, the GPS position is central Berlin.
exif_tags=(
	-Make=Imagepipe
	"-Model=FixtureCam X100"
	"-Software=imagepipe make-fixtures.sh"
	"-DateTimeOriginal=2018:05:01 19:42:00"
	"-CreateDate=2018:05:01 19:42:00"
	"-Artist=Clemens Engelhardt"
	"-Copyright=CC0 1.0 Universal"
	-GPSLatitude=52.520008 -GPSLatitudeRef=N
	-GPSLongitude=13.404954 -GPSLongitudeRef=E
	-GPSAltitude=34 -GPSAltitudeRef=0
	"-GPSDateStamp=2018:05:01" "-GPSTimeStamp=17:42:00"
	"-XMP-dc:Creator=Clemens Engelhardt"
	"-XMP-dc:Rights=CC0 1.0 Universal"
	"-XMP-dc:Description=Dandelion clocks at sunset (imagepipe test fixture)"
	-IPTC:Keywords=dandelion -IPTC:Keywords=fixture
	"-IPTC:By-line=Clemens Engelhardt"
)

# tag FILE ORIENTATION — replace all metadata of FILE with the fixed set above.
tag() {
	exiftool -q -q -all= -overwrite_original "$1"
	exiftool -q -q -overwrite_original "${exif_tags[@]}" "-IFD0:Orientation#=$2" "$1"
}

# --- dandelion: 1600x900 landscape JPEG with EXIF (GPS, camera), XMP, IPTC ----
# One lossless intermediate in vips' own format, so the upright and the rotated
# JPEG are both encoded once from the very same pixels.
vips thumbnail "$seeding" "$tmp/dandelion.v" 1600 --height 1600
vips jpegsave "$tmp/dandelion.v" "$tmp/dandelion.jpg" --Q 82 --strip --optimize-coding
tag "$tmp/dandelion.jpg" 1

# --- dandelion-orient6: same photo, pixels stored rotated, EXIF Orientation 6 --
# Orientation 6 means "rotate 90° clockwise to display", so the stored pixels
# are the upright photo rotated 90° anticlockwise (vips rot d270): 900x1600.
vips rot "$tmp/dandelion.v" "$tmp/dandelion-r.v" d270
vips jpegsave "$tmp/dandelion-r.v" "$tmp/dandelion-orient6.jpg" --Q 82 --strip --optimize-coding
tag "$tmp/dandelion-orient6.jpg" 6

# --- dandelion-portrait: a portrait crop of the same photograph, 600x1000 -----
# Crop a 3:5 window around the large dandelion clock on the left.
vips extract_area "$seeding" "$tmp/portrait-crop.v" 650 0 1793 2988
vips thumbnail "$tmp/portrait-crop.v" "$tmp/portrait.v" 600 --height 1000 --size force
vips jpegsave "$tmp/portrait.v" "$tmp/dandelion-portrait.jpg" --Q 80 --strip --optimize-coding

# --- coffee.png: real photo as PNG, 600x400, no metadata ---------------------
vips copy "$coffee" "$tmp/coffee.v"
vips pngsave "$tmp/coffee.v" "$tmp/coffee.png" --compression 9 --strip

# --- chelsea-alpha.png: real photo with a soft elliptical alpha mask ----------
# alpha = clamp((1 - ((x-cx)/cx)^2 - ((y-cy)/cy)^2) * 1020, 0, 255): opaque in
# the middle, a soft edge, fully transparent corners.
cw="$(vipsheader -f width "$chelsea")"
ch="$(vipsheader -f height "$chelsea")"
ax="$(awk -v w="$cw" 'BEGIN { printf "%.10f", 2 / w }')"
ay="$(awk -v h="$ch" 'BEGIN { printf "%.10f", 2 / h }')"
vips xyz "$tmp/xy.v" "$cw" "$ch"
vips linear -- "$tmp/xy.v" "$tmp/n.v" "$ax $ay" "-1 -1"
vips multiply "$tmp/n.v" "$tmp/n.v" "$tmp/sq.v"
vips extract_band "$tmp/sq.v" "$tmp/sx.v" 0
vips extract_band "$tmp/sq.v" "$tmp/sy.v" 1
vips add "$tmp/sx.v" "$tmp/sy.v" "$tmp/r2.v"
vips linear -- "$tmp/r2.v" "$tmp/a.v" -1020 1020
vips cast "$tmp/a.v" "$tmp/a8.v" uchar
vips bandjoin "$chelsea $tmp/a8.v" "$tmp/chelsea-rgba.v"
vips copy "$tmp/chelsea-rgba.v" "$tmp/chelsea-rgba2.v" --interpretation srgb
vips pngsave "$tmp/chelsea-rgba2.v" "$tmp/chelsea-alpha.png" --compression 9 --strip

mkdir -p "$out"
for f in dandelion.jpg dandelion-orient6.jpg dandelion-portrait.jpg coffee.png chelsea-alpha.png; do
	mv -f "$tmp/$f" "$out/$f"
done

echo "make-fixtures: wrote to testdata/photos:"
(cd "$out" && for f in dandelion.jpg dandelion-orient6.jpg dandelion-portrait.jpg coffee.png chelsea-alpha.png; do
	printf '  %-24s %8d bytes  %s\n' "$f" "$(wc -c <"$f")" "$(vipsheader "$f" | sed 's/^[^:]*: //')"
done)
