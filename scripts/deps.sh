#!/usr/bin/env bash
# Installs the system packages imagepipe needs, only when they are missing.
# Idempotent; runs apt-get as root or through sudo.
set -euo pipefail

# Packages: libvips for processing; exiftool and the photo packages only for
# regenerating test fixtures (scripts/make-fixtures.sh), not for building.
runtime_pkgs=(libvips-dev pkg-config)
tools_pkgs=(libvips-tools curl)
fixture_pkgs=(libvips-tools libimage-exiftool-perl python3 python3-skimage lomiri-wallpapers-16.04 libgs-common)

want=("${runtime_pkgs[@]}")
case "${1:-}" in
  --test) want+=("${tools_pkgs[@]}") ;;
  --fixtures) want+=("${fixture_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
