# imagepipe — `make run` and `make test` are all a newcomer needs: both
# install what is missing first (apt packages, pinned Go tools).

GO      ?= go
BIN     := bin/imagepipe
TOOLS    = $$(scripts/tools.sh)
GOTEST  ?= $(GO) test -race -count=1 -timeout 20m

# LIBVIPS=bundled (default): link libvips 8.18 as prebuilt by sharp-libvips,
# fetched into ~/.cache/imagepipe by scripts/libvips.sh; LIBVIPS=system: the
# distribution's libvips-dev (8.14 on Debian 12). See ARCHITECTURE.md.
LIBVIPS ?= bundled
export LIBVIPS
ifeq ($(LIBVIPS),bundled)
export PKG_CONFIG_PATH := $(shell scripts/libvips.sh pc)
# Go's build cache does not see PKG_CONFIG_PATH: the define keeps objects
# built against the two libraries apart.
export CGO_CFLAGS := -O2 -g -DIMAGEPIPE_LIBVIPS=$(shell scripts/libvips.sh version)
endif

.PHONY: all run build deps deps-test tools generate check-generated web check-web lint-proto breaking-proto tidy vet check-observability check-helm check-aws test servers fixtures clean

all: build

## run: install what is missing, build, and start the whole system (REST :8080, gRPC :9090, data in ./data)
run: build
	./$(BIN)

build: deps
	$(GO) build -o $(BIN) ./cmd/imagepipe

deps:
	scripts/deps.sh

deps-test:
	scripts/deps.sh --test

tools:
	@scripts/tools.sh >/dev/null

## generate: regenerate gen/ from proto/ with the pinned generators (offline)
generate: tools
	rm -f gen/imagepipe/v1/*.pb.go gen/imagepipe/v1/*.pb.gw.go gen/openapiv2/*.swagger.json
	PATH="$(TOOLS):$$PATH" buf generate

lint-proto: tools
	PATH="$(TOOLS):$$PATH" buf lint

## breaking-proto: fail when proto/ breaks wire or source compatibility with main (buf.yaml: FILE).
## buf exits 100 for a breaking change; a clone without a main branch to compare with only warns.
BUF_AGAINST ?= $(shell git rev-parse --git-common-dir)\#branch=main
breaking-proto: tools
	@if ! git rev-parse -q --verify refs/heads/main >/dev/null; then \
		echo "breaking-proto: no local main branch to compare proto/ with; skipped" >&2; exit 0; fi; \
	PATH="$(TOOLS):$$PATH" buf breaking --against '$(BUF_AGAINST)'; rc=$$?; \
	if [ $$rc -eq 100 ]; then echo "proto/ breaks compatibility with main (see above)" >&2; exit 1; fi; \
	if [ $$rc -ne 0 ]; then echo "breaking-proto: buf could not read main to compare with (exit $$rc); skipped" >&2; fi

## tidy: fail when go.mod or go.sum is not what `go mod tidy` makes
tidy:
	@$(GO) mod tidy -diff || { echo "go.mod is not tidy: run 'go mod tidy' and commit the result" >&2; exit 1; }

## check-generated: fail when gen/ is not what `make generate` makes
check-generated: generate
	@if [ -n "$$(git status --porcelain -- gen/)" ]; then \
		echo "gen/ is stale: run 'make generate' and commit the result" >&2; \
		git status --porcelain -- gen/ >&2; exit 1; fi

## web: rebuild web/dist (the page's bundle, committed like gen/) from web/src with the
## npm packages web/package-lock.json pins (scripts/deps.sh --web installs them; needs Node 20)
web:
	scripts/deps.sh --web
	cd web && node build.mjs

## check-web: fail when web/dist is not what `make web` makes
check-web: web
	@if [ -n "$$(git status --porcelain -- web/dist)" ]; then \
		echo "web/dist is stale: run 'make web' and commit the result" >&2; \
		git status --porcelain -- web/dist >&2; exit 1; fi

vet: deps
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal services integration gen scripts deploy web)" || { echo "gofmt needed:" >&2; gofmt -l cmd internal services integration gen scripts deploy web >&2; exit 1; }

## check-observability: promtool checks deploy/observability's Prometheus config and alerting rules and
## runs the rules' unit tests (alerts_test.yml); scripts/tools.sh builds the pinned promtool once
check-observability:
	@bin="$$(scripts/tools.sh promtool)" || exit 1; promtool="$$bin/promtool"; cd deploy/observability/prometheus && \
	"$$promtool" check config prometheus.yml && \
	"$$promtool" check rules alerts.yml && \
	"$$promtool" test rules alerts_test.yml

## check-helm: helm lint --strict and helm template on deploy/helm's chart with both values files
## (split and all-in-one); scripts/tools.sh builds the pinned helm once. The Go test in deploy/helm
## checks the rendered objects.
check-helm:
	@bin="$$(scripts/tools.sh helm)" || exit 1; helm="$$bin/helm"; cd deploy/helm && \
	for values in values-split.yaml values-allinone.yaml; do \
		"$$helm" lint --strict imagepipe -f "imagepipe/$$values" && \
		"$$helm" template imagepipe imagepipe -f "imagepipe/$$values" >/dev/null || exit 1; \
	done

## check-aws: the CDK app in deploy/aws (npm packages from scripts/deps.sh --test): type check, the
## Jest tests, and `cdk synth` offline under cdk-nag's AwsSolutions checks (a finding fails it); the
## template it writes to deploy/aws/cdk.out is what deploy/aws's Go tests compare with `imagepipe init`
check-aws: deps-test
	cd deploy/aws && npx tsc -p . && npx jest --ci && npx cdk synth --quiet --no-staging

## test: install what is missing and run every check and test, the AWS
## drivers against MinIO, fauxqs and dynalite started on loopback. The
## race detector makes the pure-Go SQLite ~10x slower, so the 10,000-image
## batch proof (reads per image event independent of batch size) runs again
## without it, at full size. The browser tests (integration/browser) drive Debian's chromium.
test: deps-test lint-proto breaking-proto check-generated check-web tidy vet check-observability check-helm check-aws servers
	eval "$$(scripts/servers.sh env)"; IMAGEPIPE_REQUIRE_AWS=1 IMAGEPIPE_REQUIRE_BROWSER=1 $(GOTEST) ./... && \
	$(GO) test -count=1 -timeout 10m -run '^TestBatchReadsPerEventIndependentOfSize$$' ./services/webhooks/; rc=$$?; \
	scripts/servers.sh stop; exit $$rc

## servers: start the loopback S3/SQS/DynamoDB servers (scripts/servers.sh stop ends them)
servers:
	scripts/servers.sh start

## fixtures: regenerate testdata/photos from Debian's photo packages
fixtures:
	scripts/deps.sh --fixtures
	scripts/make-fixtures.sh

clean:
	rm -rf bin data

## bench-processor: imagepipe's processing against sharp, vipsthumbnail, Pillow, ImageMagick and ffmpeg;
## installs them and a corpus from Debian packages (cache: ~/.cache/imagepipe-bench), waits for a quiet
## machine, ~20 min; prints the tables and rewrites those in docs/BENCHMARKS.md (BENCH_ARGS go to bench.py)
.PHONY: bench-processor
bench-processor: build
	scripts/bench/run.sh $(BENCH_ARGS)

## bench-load: bin/imagepipe (all-in-one) under sustained load, driven by vegeta: variant GETs side by side
## with nginx (one worker, sendfile), uploads as fast as they are answered, and a 200 MB upload against
## dd conv=fsync; installs nginx if missing, ~1 min; prints the tables and rewrites its section of
## docs/BENCHMARKS.md (BENCH_LOAD_ARGS go to scripts/bench/load, e.g. -duration 30s)
.PHONY: bench-load
bench-load: build
	GO="$(GO)" scripts/bench/load.sh $(BENCH_LOAD_ARGS)
