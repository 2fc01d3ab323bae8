#!/usr/bin/env bash
# Installs the system packages imagepipe needs, only when they are missing.
# Idempotent; runs apt-get as root or through sudo.
set -euo pipefail

# Packages: pkg-config and what scripts/libvips.sh needs to fetch the bundled
# libvips (or, with LIBVIPS=system, Debian's libvips-dev); exiftool and the
# photo packages only for regenerating test fixtures
# (scripts/make-fixtures.sh), not for building.
# libheif-dev: HEIC is decoded with the system's libheif in every build
# (internal/engine/heif).
runtime_pkgs=(pkg-config curl ca-certificates openssl libheif-dev)
if [[ "${LIBVIPS:-bundled}" == system ]]; then runtime_pkgs+=(libvips-dev); fi
# nginx: scripts/bench/load's test runs the load tool briefly, side by
# side with nginx as `make bench-load` does.
tools_pkgs=(libvips-tools curl nginx)
# --test also installs the npm packages tests run under node, pinned, into
# $IMAGEPIPE_TEST_NPM (default ~/.cache/imagepipe/npm-test; never into the
# repository), where the tests look for them: svix, a Standard Webhooks
# implementation services/webhooks verifies its deliveries with.
svix_version=1.99.1
# --test also installs deploy/aws's npm packages (the AWS CDK, cdk-nag, Jest;
# package-lock.json pins them) with npm ci into $IMAGEPIPE_CDK_NPM (default
# ~/.cache/imagepipe/cdk-npm/<hash of the lock>), linked as
# deploy/aws/node_modules: outside the tree, because go and gofmt would walk
# into the Go templates the CDK CLI ships.
# chromium: the browser tests (integration/browser) drive it with chromedp.
browser_pkgs=(chromium)
fixture_pkgs=(libvips-tools libimage-exiftool-perl python3 python3-skimage lomiri-wallpapers-16.04 libgs-common)

want=("${runtime_pkgs[@]}")
case "${1:-}" in
  --test)
    want+=("${tools_pkgs[@]}")
    # node and npm for the npm test tools below; they may come from
    # elsewhere than Debian: only the commands matter.
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then want+=(nodejs npm); fi
    want+=("${browser_pkgs[@]}")
    ;;
  --web)
    # node and npm build the web page (make web); Node 20 or later.
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then want+=(nodejs npm); fi
    ;;
  --fixtures) want+=("${fixture_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "deps: installing ${missing[*]}" >&2
	sudo=""
	if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
"$(dirname "${BASH_SOURCE[0]}")/libvips.sh" install

if [[ "${1:-}" == --test ]]; then
  npmdir="${IMAGEPIPE_TEST_NPM:-${XDG_CACHE_HOME:-$HOME/.cache}/imagepipe/npm-test}"
  have="$(node -p 'require(process.argv[1]).version' "$npmdir/node_modules/svix/package.json" 2>/dev/null || true)"
  if [[ "$have" != "$svix_version" ]]; then
    echo "deps: npm install svix@$svix_version into $npmdir" >&2
    mkdir -p "$npmdir"
    [[ -f "$npmdir/package.json" ]] || echo '{"private": true, "description": "imagepipe test tools (scripts/deps.sh --test)"}' >"$npmdir/package.json"
    npm install --prefix "$npmdir" --no-audit --no-fund --silent --save-exact "svix@$svix_version" >&2
  fi
fi

if [[ "${1:-}" == --test ]]; then
  cdk="$(cd "$(dirname "${BASH_SOURCE[0]}")/../deploy/aws" && pwd)"
  lock_hash="$(sha256sum "$cdk/package-lock.json" | cut -c1-16)"
  cdk_npm="${IMAGEPIPE_CDK_NPM:-${XDG_CACHE_HOME:-$HOME/.cache}/imagepipe/cdk-npm/$lock_hash}"
  if [[ ! -f "$cdk_npm/.installed" ]]; then
    echo "deps: npm ci deploy/aws into $cdk_npm" >&2
    mkdir -p "$cdk_npm"
    cp "$cdk/package.json" "$cdk/package-lock.json" "$cdk_npm/"
    npm ci --prefix "$cdk_npm" --no-audit --no-fund --silent >&2
    touch "$cdk_npm/.installed"
  fi
  if [[ "$(readlink "$cdk/node_modules" 2>/dev/null)" != "$cdk_npm/node_modules" ]]; then
    rm -rf "$cdk/node_modules" # a plain npm install's, in the tree
    ln -s "$cdk_npm/node_modules" "$cdk/node_modules"
  fi
fi

# --test and --web: web/node_modules as web/package-lock.json pins it (npm
# ci), again only when the lock file changed since the last install.
if [[ "${1:-}" == --test || "${1:-}" == --web ]]; then
  web="$(cd "$(dirname "${BASH_SOURCE[0]}")/../web" && pwd)"
  if ! cmp -s "$web/package-lock.json" "$web/node_modules/.imagepipe-lock.json"; then
    echo "deps: npm ci in web/" >&2
    (cd "$web" && npm ci --no-audit --no-fund --silent >&2)
    cp "$web/package-lock.json" "$web/node_modules/.imagepipe-lock.json"
  fi
fi
