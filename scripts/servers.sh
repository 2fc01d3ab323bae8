#!/usr/bin/env bash
# Real AWS-compatible servers on loopback for the driver conformance tests
# and the AWS end-to-end tests: MinIO (S3), fauxqs (SQS), dynalite (DynamoDB).
#
#   scripts/servers.sh install   build/install the pinned servers into the cache
#   scripts/servers.sh start     install if needed, start all three on free ports
#   scripts/servers.sh env       print the environment (export lines) for clients
#   scripts/servers.sh status    show what runs where
#   scripts/servers.sh stop      stop them
#
# Binaries are cached outside the repository between runs
# ($IMAGEPIPE_SERVERS_CACHE, default ~/.cache/imagepipe/servers); state (data,
# logs, pids, the env file) lives in $IMAGEPIPE_SERVERS_STATE (default
# $TMPDIR/imagepipe-servers).
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
FAUXQS_VERSION=1.9.2
DYNALITE_VERSION=4.0.0

cache="${IMAGEPIPE_SERVERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagepipe/servers}"
state="${IMAGEPIPE_SERVERS_STATE:-${TMPDIR:-/tmp}/imagepipe-servers}"
minio="$cache/minio-$MINIO_VERSION/minio"
npmdir="$cache/npm-fauxqs$FAUXQS_VERSION-dynalite$DYNALITE_VERSION"

# Credentials of the local servers only; never real ones.
access_key=imagepipe-test
secret_key=imagepipe-test-secret
region=us-east-1

install() {
  if [[ ! -x "$minio" ]]; then
    echo "servers: building MinIO $MINIO_VERSION (about 6 minutes, once)" >&2
    mkdir -p "$(dirname "$minio")"
    (cd "$(dirname "$minio")" && GOFLAGS=-mod=mod GOBIN="$(dirname "$minio")" \
      go install "github.com/minio/minio@$MINIO_VERSION")
  fi
  if [[ ! -x "$npmdir/node_modules/.bin/fauxqs" || ! -x "$npmdir/node_modules/.bin/dynalite" ]]; then
    echo "servers: npm install fauxqs@$FAUXQS_VERSION dynalite@$DYNALITE_VERSION" >&2
    mkdir -p "$npmdir"
    npm install --prefix "$npmdir" --no-audit --no-fund --silent \
      "fauxqs@$FAUXQS_VERSION" "dynalite@$DYNALITE_VERSION" >&2
  fi
}

# free_ports N prints N distinct free loopback ports: all sockets are held
# open until every port is known, so two servers never get the same one.
free_ports() {
  node -e '
    const net = require("net"); const n = +process.argv[1]; const socks = [];
    const next = () => { if (socks.length === n) { console.log(socks.map(s => s.address().port).join(" ")); socks.forEach(s => s.close()); return; }
      const s = net.createServer(); s.listen(0, "127.0.0.1", () => { socks.push(s); next(); }); };
    next();' "$1"
}

running() { [[ -f "$state/$1.pid" ]] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

wait_http() { # name url
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null "$2" 2>/dev/null; then return 0; fi
    if ! running "$1"; then echo "servers: $1 exited; see $state/$1.log" >&2; tail -20 "$state/$1.log" >&2; return 1; fi
    sleep 0.2
  done
  echo "servers: $1 did not answer at $2" >&2
  return 1
}

start() {
  install
  if running minio && running fauxqs && running dynalite && [[ -f "$state/env" ]]; then
    echo "servers: already running" >&2
    return 0
  fi
  stop >/dev/null 2>&1 || true
  mkdir -p "$state/minio-data"
  local s3_port sqs_port ddb_port
  read -r s3_port sqs_port ddb_port < <(free_ports 3)

  # A static KMS key lets MinIO do server-side encryption (SSE-S3 and
  # SSE-KMS), which the S3 driver's SSE test exercises.
  MINIO_KMS_SECRET_KEY="imagepipe-test:$(head -c32 /dev/urandom | base64)" \
  MINIO_ROOT_USER=$access_key MINIO_ROOT_PASSWORD=$secret_key MINIO_BROWSER=off \
    nohup "$minio" server --quiet --address "127.0.0.1:$s3_port" "$state/minio-data" \
    >"$state/minio.log" 2>&1 9>&- &
  echo $! >"$state/minio.pid"

  # fauxqs always binds every interface (FAUXQS_HOST only names the host in
  # queue URLs); the port is random and the credentials are local-only.
  FAUXQS_PORT=$sqs_port FAUXQS_HOST=localhost FAUXQS_LOGGER=false FAUXQS_DEFAULT_REGION=$region \
    nohup "$npmdir/node_modules/.bin/fauxqs" >"$state/fauxqs.log" 2>&1 9>&- &
  echo $! >"$state/fauxqs.pid"

  nohup "$npmdir/node_modules/.bin/dynalite" --host 127.0.0.1 --port "$ddb_port" >"$state/dynalite.log" 2>&1 9>&- &
  echo $! >"$state/dynalite.pid"

  wait_http minio "http://127.0.0.1:$s3_port/minio/health/live"
  wait_http fauxqs "http://127.0.0.1:$sqs_port/"
  wait_http dynalite "http://127.0.0.1:$ddb_port/"

  cat >"$state/env" <<ENV
export AWS_ACCESS_KEY_ID=$access_key
export AWS_SECRET_ACCESS_KEY=$secret_key
export AWS_REGION=$region
export AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$s3_port
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$sqs_port
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
ENV
  echo "servers: MinIO :$s3_port, fauxqs :$sqs_port, dynalite :$ddb_port (env: $state/env)" >&2
}

stop() {
  for name in minio fauxqs dynalite; do
    if running "$name"; then kill "$(cat "$state/$name.pid")" 2>/dev/null || true; fi
    rm -f "$state/$name.pid"
  done
  rm -f "$state/env"
  rm -rf "$state/minio-data"
}

status() {
  for name in minio fauxqs dynalite; do
    if running "$name"; then echo "$name: running (pid $(cat "$state/$name.pid"))"; else echo "$name: stopped"; fi
  done
  [[ -f "$state/env" ]] && cat "$state/env"
  return 0
}

# One start/stop at a time per state directory (several shells or test
# runs may share it). The servers are started without fd 9, so they do not
# hold the lock.
mkdir -p "$state"
exec 9>"$state/.lock"

case "${1:-}" in
  install) flock 9; install ;;
  start) flock 9; start ;;
  stop) flock 9; stop ;;
  status) status ;;
  env) cat "$state/env" ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
