# redisha — see README.md. `make run` and `make test` install what they need.
GO      ?= go
SHELL   := bash
PKGS    := ./...
LAMBDA_LDFLAGS := -s -w

.PHONY: all run test test-go test-synth lint deps deps-redis deps-build deps-node build synth bench clean help

all: build

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

deps: deps-redis deps-build ## install what the tests and the local run need

deps-redis: ## install redis-server when missing (Debian/Ubuntu)
	@bash scripts/deps.sh redis

deps-build: ## install zip when missing (packs build/lambda.zip)
	@bash scripts/deps.sh build

deps-node: ## install the pinned CDK CLI from package-lock.json
	@bash scripts/deps.sh node

run: deps-redis ## run the health checker locally as Lambda would, against a throwaway redis-server
	@mkdir -p build/local
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc -o build/local/bootstrap ./lambda
	$(GO) build -o build/local/redisha-local ./cmd/redisha-local
	build/local/redisha-local --bootstrap build/local/bootstrap $(RUN_FLAGS)

test: deps lint test-go test-synth ## everything CI runs

# The infra packages run without -race: jsii-runtime-go waits on its node
# process from two goroutines (process.go ensureStarted and Close), which the
# race detector reports on jsii.Close. Our CDK code is single-goroutine.
test-go:
	$(GO) test -race -count=1 -timeout 25m $$($(GO) list $(PKGS) | grep -v '^github.com/redisha/redisha/infra')
	$(GO) test -count=1 -timeout 10m ./infra/...

# The inner loop: go test -short, without -race and the CDK packages. The
# long tests say they are skipped (t.Skip under testing.Short: the end-to-end
# test/ package, the Lambda binary in lambda/promoter, all but one fault of
# the probe's catalogue); the drill's scenarios (internal/drill, a minute
# each) are left out by name here. make test never sets -short.
.PHONY: test-short
DRILL_SCENARIOS := ^TestScenario(RegionLost|RegionStalled|PrimaryCrash|ObserversPartition|LinkBroken|StaleSecondary|Cooldown|Switchover)$$
test-short: deps-redis ## the inner loop: the short lane of go test (under 2 minutes), no synth
	@echo "short lane: skips test/, lambda/promoter's binary, the probe's long faults and the drill scenarios (make test runs them)"
	$(GO) test -short -count=1 -timeout 5m -skip '$(DRILL_SCENARIOS)' $$($(GO) list $(PKGS) | grep -v '^github.com/redisha/redisha/infra')

lint: ## gofmt, go vet, go mod tidy leaves no diff
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@$(GO) mod tidy -diff >/dev/null || { echo "go mod tidy would change go.mod/go.sum: run it and commit the result"; $(GO) mod tidy -diff; exit 1; }

build: deps-build ## the checker and the promoter (linux/arm64, static, stripped): build/{lambda,promoter}/bootstrap and .zip
	@mkdir -p build/lambda build/promoter
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath \
	  -ldflags='$(LAMBDA_LDFLAGS)' -o build/lambda/bootstrap ./lambda
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath \
	  -ldflags='$(LAMBDA_LDFLAGS)' -o build/promoter/bootstrap ./lambda/promoter
	@rm -f build/lambda.zip && cd build/lambda && zip -q -X ../lambda.zip bootstrap
	@rm -f build/promoter.zip && cd build/promoter && zip -q -X ../promoter.zip bootstrap
	@ls -l build/lambda/bootstrap build/lambda.zip build/promoter/bootstrap build/promoter.zip

synth: build deps-node ## synthesize the CDK app offline into cdk.out (primary, secondary, DNS templates)
	@bash scripts/synth.sh $(SYNTH_FLAGS)

test-synth: synth ## check the synthesized templates (regions, seed parameters, no secret, no cdk-nag error)
	$(GO) run ./infra/synthcheck -dir cdk.out

bench: deps-redis ## run the benchmarks (figures are recorded in README.md)
	$(GO) test -run '^$$' -bench . -benchmem -timeout 20m $(PKGS)

clean:
	rm -rf build cdk.out

.PHONY: drill
drill: deps-redis synth ## synthesize the app and rehearse its templates here, measured (region A lost); DRILL_FLAGS="--scenario switchover --speed 60"
	@mkdir -p build/local build/drill
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc -o build/local/bootstrap ./lambda
	$(GO) build -o build/redisha ./cmd/redisha
	build/redisha drill --templates cdk.out --bootstrap build/local/bootstrap $(DRILL_FLAGS)
