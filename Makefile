# Build, run and test the migration server. `make run` and `make test` are the two commands a
# newcomer needs; the build-<LogicalId> targets are what `sam build` calls (BuildMethod: makefile).
GO          ?= go
FUNCTIONS   := status link unlink
# What every Lambda artifact is built with: static, no RPC mode, reproducible, stripped.
LAMBDA_TAGS := lambda.norpc
LDFLAGS     := -s -w
GOBUILD      = CGO_ENABLED=0 $(GO) build -tags $(LAMBDA_TAGS) -trimpath -ldflags="$(LDFLAGS)"
BUILD_DIR   ?= .aws-sam/build
HOST_DIR    ?= bin/host
FN          ?= status
EVENT       ?= events/status.json
FUZZTIME    ?= 10s
# Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a failure ("context deadline
# exceeded", no crasher: go.dev/issue/75804); the fix shipped in Go 1.27 only, so fuzzing alone
# runs on a 1.27 toolchain from the module proxy. FUZZ_TOOLCHAIN=local uses the installed Go.
FUZZ_TOOLCHAIN ?= go1.27.4
# The fuzzer minimises every new interesting input for up to 60 s by default, and while it does the
# workers explore nothing (a 10 s run stalled at 12k executions); 1 s keeps them exploring.
FUZZMINIMIZETIME ?= 1s

.PHONY: all run test lint build host invoke fuzz bench bench-check bench-ci clean \
	build-StatusFunction build-LinkFunction build-UnlinkFunction

all: lint test

## run: the three routes on http://127.0.0.1:3000 with moto_server and the Toss simulator
run:
	$(GO) run ./cmd/local

## test: vet, unit, integration (moto_server, Toss simulator), template and binary checks
test:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

## lint: formatting, vet and the template
lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	cfn-lint template.yaml

# sam build runs these in a copy of the project with ARTIFACTS_DIR set.
build-StatusFunction:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/status
build-LinkFunction:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/link
build-UnlinkFunction:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/unlink

## build: all three arm64 artifacts, laid out as sam build does (.aws-sam/build/<LogicalId>/bootstrap)
build:
	$(MAKE) build-StatusFunction ARTIFACTS_DIR=$(BUILD_DIR)/StatusFunction
	$(MAKE) build-LinkFunction ARTIFACTS_DIR=$(BUILD_DIR)/LinkFunction
	$(MAKE) build-UnlinkFunction ARTIFACTS_DIR=$(BUILD_DIR)/UnlinkFunction

## host: the same binaries for this machine, for `make invoke`
host:
	@for f in $(FUNCTIONS); do $(GOBUILD) -o $(HOST_DIR)/$$f/bootstrap ./functions/$$f || exit 1; done

## invoke: run a real bootstrap through the Lambda Runtime API harness (sam local invoke, without Docker)
invoke: host
	$(GO) run ./cmd/invoke -name $(FN) -binary $(HOST_DIR)/$(FN)/bootstrap -event $(EVENT)

clean:
	rm -rf .aws-sam bin

## fuzz: every Fuzz target for FUZZTIME each (CI: 10s)
fuzz:
	@set -e; tc=$(FUZZ_TOOLCHAIN); \
	if ! GOTOOLCHAIN=$$tc $(GO) version; then \
	  echo "fuzz: $$tc unavailable (no module proxy?): fuzzing with the installed Go"; tc=local; fi; \
	for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; GOTOOLCHAIN=$$tc $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; \
	  done; \
	done

## bench: the performance table (bench/results.md); bench-check: fail when a budget is broken
bench:
	@command -v wrk >/dev/null || command -v hey >/dev/null || { echo "installing wrk (Debian) for the throughput figure"; \
	  { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null 2>&1 || echo "wrk not installed: the built-in Go load generator is used"; }
	$(GO) run ./cmd/bench -out bench/results.md

bench-check:
	$(GO) run ./cmd/bench -check

## bench-migrationctl: migrationctl's stats, export and coverage over 100,000 mappings
## (bench/migrationctl.md), on DynamoDB Local when DYNAMODB_LOCAL_ENDPOINT is set, else moto_server
.PHONY: bench-migrationctl
bench-migrationctl:
	$(GO) run ./cmd/migrationctl/bench -out bench/migrationctl.md
bench: bench-migrationctl

## bench-ci: the deterministic budgets only (sizes, call counts, allocations), as CI runs them
bench-ci:
	$(GO) run ./cmd/bench -check -deterministic
