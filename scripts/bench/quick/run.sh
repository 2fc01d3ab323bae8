#!/usr/bin/env bash
# Quick side-by-side measurements of issue 12 §3 (see main.go beside this
# script): GET /a/{id}/{variant} against nginx (one worker, sendfile)
# serving the same bytes, and a 200 MB raw upload against dd conv=fsync
# to the same disk. Starts the all-in-one server (BIN, default: built
# from this tree) and nginx on free loopback ports, with their data in a
# temporary folder (TMPDIR), and stops them at the end.
#
#   scripts/bench/quick/run.sh [get] [ingest]      (both by default)
#
# Settings: BIN, CONNS (32), DURATION (5s), ROUNDS (3), INGEST_MB (200).
set -euo pipefail
cd "$(dirname "$0")/../../.."
what=("${@:-get ingest}")
what=" ${what[*]} "
conns=${CONNS:-32} duration=${DURATION:-5s} rounds=${ROUNDS:-3} ingest_mb=${INGEST_MB:-200}

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bin=${BIN:-}
if [[ -z $bin ]]; then
	bin=$work/imagepipe
	go build -o "$bin" ./cmd/imagepipe
fi
go build -o "$work/quick" scripts/bench/quick/main.go

ngx=$(free_port)
# start_server DATA_DIR: the all-in-one server on free ports; sets server
# (its pid), api and token.
start_server() {
	local http grpc
	http=$(free_port) grpc=$(free_port)
	"$bin" -http-addr=127.0.0.1:$http -grpc-addr=127.0.0.1:$grpc -data-dir="$1" -public-url=http://127.0.0.1:$http \
		-ingest.max-bytes=$(((ingest_mb + 1) << 20)) -log-level=warn >>"$work/imagepipe.log" 2>&1 &
	server=$!
	pids+=("$server")
	api="http://127.0.0.1:$http"
	token=$1/admin.key
	for _ in $(seq 100); do
		curl -sf "$api/healthz" >/dev/null && return
		sleep 0.1
	done
	echo "the server did not start: see $work/imagepipe.log" >&2
	exit 1
}
stop_server() { kill "$server"; wait "$server" || true; }

echo "imagepipe $("$bin" -version 2>/dev/null || git describe --always --dirty), $(nproc) cores, $(nginx -v 2>&1)"

if [[ $what == *" get "* ]]; then
	start_server "$work/data"
	# A variant of about 12 KB: the one of a photo's variants closest to it.
	id=$(curl -sf -H "Authorization: Bearer $(cat "$token")" --data-binary @testdata/photos/dandelion.jpg \
		-H 'Content-Type: image/jpeg' "$api/v1/images?wait=30s" | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
	best="" bestd=999999999
	for v in thumb medium large; do
		n=$(curl -sf "$api/a/$id/$v" | wc -c) || continue
		d=$((n > 12288 ? n - 12288 : 12288 - n))
		((d < bestd)) && best=$v bestd=$d
	done
	mkdir -p "$work/www/a/$id" "$work/nginx"
	curl -sf "$api/a/$id/$best" -o "$work/www/a/$id/$best"
	chmod a+x "$work" && chmod -R a+rX "$work/www" # nginx's worker runs as nobody when started by root
	echo "variant $best: $(wc -c <"$work/www/a/$id/$best") bytes"
	cat >"$work/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	keepalive_requests 100000000;
	tcp_nopush on;
	types { image/webp webp; }
	default_type image/webp;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	server {
		listen 127.0.0.1:$ngx;
		root $work/www;
		etag on;
		add_header Cache-Control "public, max-age=31536000, immutable";
	}
}
NGINX
	nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
	pids+=("$!")
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:$ngx/a/$id/$best" >/dev/null && break; sleep 0.1; done
	worker=$(pgrep -P "$(cat "$work/nginx/nginx.pid")" | head -1)
	"$work/quick" get -c "$conns" -d "$duration" -rounds "$rounds" -pids "nginx=$worker,imagepipe=$server" \
		nginx="http://127.0.0.1:$ngx/a/$id/$best" imagepipe="$api/a/$id/$best"
	stop_server
fi

if [[ $what == *" ingest "* ]]; then
	# An image as far as sniffing goes (a JPEG's first bytes), then random
	# bytes: the processor refuses it quickly.
	body=$work/body.bin
	{ head -c 4096 testdata/photos/dandelion.jpg; head -c $((ingest_mb * 1000000 - 4096)) /dev/urandom; } >"$body"
	# A fresh server and store each round: the processor, working on the
	# last round's upload, would otherwise run during the next one.
	for r in $(seq "$rounds"); do
		rm -rf "$work/ingest"
		start_server "$work/ingest"
		"$work/quick" ingest -file "$body" -dir "$work/ingest" -url "$api/v1/images" -token-file "$token" -pid "$server" | sed "s/^round 1/round $r/"
		stop_server
	done | tee "$work/ingest.txt"
	awk '/^round/ { for (i = 1; i <= NF; i++) if ($i ~ /x$/) print $i }' "$work/ingest.txt" | sort -n |
		awk '{ v[NR] = $1 } END { print "median   POST/dd " v[int((NR + 1) / 2)] }'
fi
