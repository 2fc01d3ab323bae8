#!/usr/bin/env bash
# make-fixtures.sh — regenerate testdata/photos/ from real photographs that
# ship in Debian packages.
#
# Sources (read-only, located with `dpkg -L`):
#   lomiri-wallpapers-16.04  seeding_by_Clements_Engelhardt.jpg  (CC0-1.0)
#   python3-skimage          skimage/data/coffee.png             (CC0)
#   python3-skimage          skimage/data/chelsea.png            (CC0)
#   libgs-common             ghostscript/a98.icc, ps_cmyk.icc    (ICC profiles: Adobe RGB (1998)
#                                                                 compatible, and a CMYK press profile)
#
# Tools: vips / vipsthumbnail (libvips-tools), exiftool (libimage-exiftool-perl),
# python3 (standard library only; for the hand-built hostile files).
#
# Outputs:
#   testdata/photos/   real photographs in many encodings (see its README.md)
#   testdata/hostile/  hostile inputs, built by this script (see its README.md)
#   testdata/presets/  a presets configuration file and its watermark image
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

for tool in vips vipsthumbnail vipsheader exiftool dpkg python3; do
	command -v "$tool" >/dev/null 2>&1 || die "missing tool '$tool' (apt-get install libvips-tools libimage-exiftool-perl python3)"
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
a98="$(pkgfile libgs-common 'ghostscript/a98\.icc')"
cmykicc="$(pkgfile libgs-common 'ghostscript/ps_cmyk\.icc')"
hostile="$repo_root/testdata/hostile"
presets="$repo_root/testdata/presets"

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

# --- orient-1.jpg .. orient-8.jpg: one photo under all eight EXIF orientations
# Each file stores the upright 400x225 picture transformed by the inverse of
# its orientation, and says so in EXIF, so every one of them displays as the
# same upright picture (400x225; stored 225x400 for 5-8).
#   1 as is          2 mirrored left-right    3 rotated 180°       4 mirrored top-bottom
#   5 transposed     6 rotated 90° anticlockwise (displayed by turning 90° clockwise)
#   7 transversed    8 rotated 90° clockwise  (displayed by turning 90° anticlockwise)
vips thumbnail "$seeding" "$tmp/o.png" 400 --height 400
vips copy "$tmp/o.png" "$tmp/o1.png"
vips flip "$tmp/o.png" "$tmp/o2.png" horizontal
vips rot "$tmp/o.png" "$tmp/o3.png" d180
vips flip "$tmp/o.png" "$tmp/o4.png" vertical
vips rot "$tmp/o.png" "$tmp/o5r.png" d90
vips flip "$tmp/o5r.png" "$tmp/o5.png" horizontal
vips rot "$tmp/o.png" "$tmp/o6.png" d270
vips rot "$tmp/o.png" "$tmp/o7r.png" d270
vips flip "$tmp/o7r.png" "$tmp/o7.png" horizontal
vips rot "$tmp/o.png" "$tmp/o8.png" d90
for n in 1 2 3 4 5 6 7 8; do
	vips jpegsave "$tmp/o$n.png" "$tmp/orient-$n.jpg" --Q 80 --strip --optimize-coding
	tag "$tmp/orient-$n.jpg" "$n"
done

# --- cmyk.jpg: CMYK JPEG with an embedded CMYK profile, 300x200 ---------------
vips thumbnail "$coffee" "$tmp/coffee-s.png" 300
vips icc_transform "$tmp/coffee-s.png" "$tmp/cmyk.v" "$cmykicc" --input-profile srgb --intent perceptual
vips jpegsave "$tmp/cmyk.v" "$tmp/cmyk.jpg" --Q 85 --optimize-coding
exiftool -q -q -overwrite_original -all= --icc_profile:all "$tmp/cmyk.jpg" # libvips adds a bare EXIF block
vipsheader "$tmp/cmyk.jpg" | grep -q "4 bands, cmyk" || die "cmyk.jpg is not CMYK"

# --- adobergb.jpg: Adobe RGB (1998) JPEG with its profile, full metadata ------
# The same 300x200 photo converted to Adobe RGB: viewed without its profile it
# looks visibly duller. Also carries EXIF (camera, copyright, artist, GPS) and
# an XMP packet with a GPS position, for the metadata tests.
vips icc_transform "$tmp/coffee-s.png" "$tmp/a98.v" "$a98" --input-profile srgb --intent relative
vips jpegsave "$tmp/a98.v" "$tmp/adobergb.jpg" --Q 90 --optimize-coding
exiftool -q -q -overwrite_original -all= --icc_profile:all "$tmp/adobergb.jpg"
exiftool -q -q -overwrite_original "${exif_tags[@]}" "-IFD0:Orientation#=1" \
	-XMP-exif:GPSLatitude=52.520008 -XMP-exif:GPSLatitudeRef=N \
	-XMP-exif:GPSLongitude=13.404954 -XMP-exif:GPSLongitudeRef=E "$tmp/adobergb.jpg"
vipsheader -a "$tmp/adobergb.jpg" | grep -q "^icc-profile-data: 564 bytes" || die "adobergb.jpg lost its profile"

# --- adobergb.heic: the same Adobe RGB pixels as HEIC (HEVC), with the profile
# What phones upload. Needs Debian's libvips with libheif's x265 encoder.
vips heifsave "$tmp/a98.v" "$tmp/adobergb.heic" --compression hevc --Q 70
vipsheader -a "$tmp/adobergb.heic" | grep -q "^heif-compression: hevc" || die "adobergb.heic is not HEVC"
vipsheader -a "$tmp/adobergb.heic" | grep -q "^icc-profile-data: 564 bytes" || die "adobergb.heic lost its profile"

# --- rgb16.png: 16-bit RGB PNG, 300x200 (resampled in 16 bits) ----------------
vips colourspace "$coffee" "$tmp/c16.v" rgb16
vips resize "$tmp/c16.v" "$tmp/c16s.v" 0.5
vips pngsave "$tmp/c16s.v" "$tmp/rgb16.png" --compression 9 --strip --bitdepth 16
vipsheader "$tmp/rgb16.png" | grep -q "ushort, 3 bands" || die "rgb16.png is not 16-bit"

# --- grey.jpg: single-channel greyscale JPEG, 180x300 ------------------------
vips thumbnail "$tmp/portrait.v" "$tmp/portrait-s.v" 300
vips colourspace "$tmp/portrait-s.v" "$tmp/grey.v" b-w
vips jpegsave "$tmp/grey.v" "$tmp/grey.jpg" --Q 80 --strip --optimize-coding
vipsheader "$tmp/grey.jpg" | grep -q "uchar, 1 band," || die "grey.jpg is not single-channel"

# --- anim.gif, anim.webp: 10 frames panning across the photograph ------------
# 160x90 windows stepping 80 pixels right over a 960-wide copy, so consecutive
# frames overlap by half and the first and last share nothing. The GIF's
# frame delays are set to 60 ms and it plays 3 times (libvips writes 100 ms
# and "forever"), so that tests can tell preserved timing from defaults; the
# WebP is made from the GIF and inherits both.
vips thumbnail "$seeding" "$tmp/pan.png" 960
frames=()
for i in 0 1 2 3 4 5 6 7 8 9; do
	vips extract_area "$tmp/pan.png" "$tmp/frame$i.png" $((i * 80)) 220 160 90
	frames+=("$tmp/frame$i.png")
done
vips arrayjoin "${frames[*]}" "$tmp/strip.png" --across 1
vips gifsave "$tmp/strip.png" "$tmp/anim-raw.gif" --page-height 90 --effort 7
python3 - "$tmp/anim-raw.gif" "$tmp/anim.gif" <<'PY'
import sys
# Walk the GIF block structure and rewrite every Graphic Control Extension's
# delay (1/100 s) and the NETSCAPE2.0 loop count.
data = bytearray(open(sys.argv[1], "rb").read())
assert data[:6] in (b"GIF87a", b"GIF89a")
flags = data[10]
i = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
delays = 0
def skip_sub_blocks(i):
    while data[i]:
        i += data[i] + 1
    return i + 1
while data[i] != 0x3B:
    if data[i] == 0x21:
        label = data[i + 1]
        if label == 0xF9:
            data[i + 4:i + 6] = (6).to_bytes(2, "little")
            delays += 1
        elif label == 0xFF and data[i + 3:i + 14] == b"NETSCAPE2.0":
            data[i + 16:i + 18] = (2).to_bytes(2, "little")
        i = skip_sub_blocks(i + 2)
    elif data[i] == 0x2C:
        f = data[i + 9]
        i += 10 + (3 * 2 ** ((f & 7) + 1) if f & 0x80 else 0)
        i = skip_sub_blocks(i + 1)
    else:
        sys.exit("unexpected GIF block 0x%02x at %d" % (data[i], i))
assert delays == 10, delays
open(sys.argv[2], "wb").write(data)
PY
[ "$(vipsheader -f n-pages "$tmp/anim.gif")" = 10 ] || die "anim.gif does not have 10 frames"
vipsheader -f delay "$tmp/anim.gif" | grep -q '^60 60 60 60 60 60 60 60 60 60 *$' || die "anim.gif delays not 60 ms"
# NETSCAPE2.0 repeat count 2 = 3 plays, which is what libvips reports as "loop".
[ "$(vipsheader -f loop "$tmp/anim.gif")" = 3 ] || die "anim.gif does not play 3 times"
vips webpsave "$tmp/anim.gif[n=-1]" "$tmp/anim.webp" --Q 75 --strip
exiftool -q -q -overwrite_original -all= "$tmp/anim.webp" # webpsave ignores --strip
[ "$(vipsheader -f n-pages "$tmp/anim.webp")" = 10 ] || die "anim.webp does not have 10 frames"

# --- presets/logo.png: a watermark image with transparency, 120x80 -----------
vips thumbnail "$tmp/chelsea-alpha.png" "$tmp/logo.png" 120 --height 120
vips pngsave "$tmp/logo.png" "$tmp/logo-s.png" --compression 9 --strip
cat >"$tmp/presets.json" <<'JSON'
{
  "watermarks": {"logo": "logo.png"},
  "presets": [
    {
      "name": "hero",
      "description": "a 1200x600 cover crop around the focal point with the logo, and a 2x JPEG under 150 kB",
      "spec": {
        "variants": [
          {"name": "banner", "width": 1200, "height": 600, "fit": "FIT_COVER", "gravity": "GRAVITY_FOCAL_POINT",
           "focal_point": {"x": 0.3, "y": 0.5}, "format": "FORMAT_AUTO",
           "watermark": {"asset": "logo", "position": "GRAVITY_SOUTH_EAST", "margin": 16, "opacity": 0.8, "relative_width": 0.15}},
          {"name": "retina", "width": 400, "dpr": 2, "format": "FORMAT_JPEG", "max_bytes": 150000,
           "jpeg": {"progressive": true}}
        ]
      }
    },
    {
      "name": "default",
      "description": "replaces the built-in default: one 800-wide WebP",
      "spec": {"variants": [{"name": "medium", "width": 800, "format": "FORMAT_WEBP"}]}
    }
  ]
}
JSON

# --- hostile/: files that must be refused quickly, with their reason ---------
vips thumbnail "$seeding" "$tmp/tiny.png" 64
vips jpegsave "$tmp/tiny.png" "$tmp/tiny.jpg" --Q 70 --strip
python3 - "$tmp" <<'PY'
import io, struct, sys, zipfile, zlib
tmp = sys.argv[1]

# huge-dimensions.jpg: a real 64x36 JPEG (~1 kB) whose frame header declares
# 64250x64250 pixels (4 gigapixels).
jpeg = bytearray(open(tmp + "/tiny.jpg", "rb").read())
i = 2
while True:
    assert jpeg[i] == 0xFF, "lost JPEG marker sync"
    marker, length = jpeg[i + 1], struct.unpack(">H", jpeg[i + 2:i + 4])[0]
    if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
        jpeg[i + 5:i + 9] = struct.pack(">HH", 64250, 64250)
        break
    i += 2 + length
open(tmp + "/huge-dimensions.jpg", "wb").write(jpeg)

# png-bomb.png: a valid 16000x16000 1-bit greyscale PNG of zeros: 31 kB that
# inflate to 32 MB of scanlines and 256 megapixels (768 MB as RGB).
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
side = 16000
row = b"\0" * (1 + side // 8)
z = zlib.compressobj(9)
idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
       + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
open(tmp + "/png-bomb.png", "wb").write(png)

# polyglot.jpg: the real JPEG above with a ZIP archive appended: a valid
# image for image decoders and a valid archive for unzip.
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
    info = zipfile.ZipInfo("payload.html", date_time=(2020, 1, 1, 0, 0, 0))  # fixed: reproducible
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, "<script>alert(document.domain)</script>\n")
open(tmp + "/polyglot.jpg", "wb").write(bytes(open(tmp + "/tiny.jpg", "rb").read()) + buf.getvalue())
PY
cat >"$tmp/xxe.svg" <<'SVG'
<?xml version="1.0" standalone="no"?>
<!DOCTYPE svg [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="50">
  <text x="0" y="20">&xxe;</text>
</svg>
SVG

mkdir -p "$out" "$hostile" "$presets"
photos=(dandelion.jpg dandelion-orient6.jpg dandelion-portrait.jpg coffee.png chelsea-alpha.png
	orient-1.jpg orient-2.jpg orient-3.jpg orient-4.jpg orient-5.jpg orient-6.jpg orient-7.jpg orient-8.jpg
	cmyk.jpg adobergb.jpg adobergb.heic rgb16.png grey.jpg anim.gif anim.webp)
for f in "${photos[@]}"; do
	mv -f "$tmp/$f" "$out/$f"
done
for f in huge-dimensions.jpg png-bomb.png polyglot.jpg xxe.svg; do
	mv -f "$tmp/$f" "$hostile/$f"
done
mv -f "$tmp/logo-s.png" "$presets/logo.png"
mv -f "$tmp/presets.json" "$presets/presets.json"

echo "make-fixtures: wrote to testdata/photos:"
(cd "$out" && for f in "${photos[@]}"; do
	printf '  %-24s %8d bytes  %s\n' "$f" "$(wc -c <"$f")" "$(vipsheader "$f" 2>/dev/null | sed 's/^[^:]*: //')"
done)
echo "make-fixtures: wrote to testdata/hostile and testdata/presets:"
(cd "$repo_root/testdata" && for f in hostile/* presets/*; do
	printf '  %-28s %8d bytes\n' "$f" "$(wc -c <"$f")"
done)
