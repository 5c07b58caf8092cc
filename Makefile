# redisha — see README.md. `make run` and `make test` install what they need.
GO      ?= go
SHELL   := bash
PKGS    := ./...
LAMBDA_LDFLAGS := -s -w

.PHONY: all run test test-go test-synth lint deps deps-redis deps-build deps-node deps-examples build synth bench clean help \
	release release-cli release-lambda vulncheck

all: build

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

deps: deps-redis deps-build deps-examples ## install what the tests and the local run need

deps-redis: ## install redis-server when missing (Debian/Ubuntu)
	@bash scripts/deps.sh redis

deps-build: ## install zip when missing (packs build/lambda.zip)
	@bash scripts/deps.sh build

deps-examples: ## install what the example applications need: python3-redis, and ioredis in examples/node (npm ci)
	@bash scripts/deps.sh examples

deps-node: ## install the pinned CDK CLI from package-lock.json
	@bash scripts/deps.sh node

run: deps-redis ## run the health checker locally as Lambda would, against a throwaway redis-server
	@mkdir -p build/local
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc -o build/local/bootstrap ./lambda
	$(GO) build -o build/local/redisha-local ./cmd/redisha-local
	build/local/redisha-local --bootstrap build/local/bootstrap $(RUN_FLAGS)

test: deps lint test-go test-synth vulncheck ## everything CI runs

# The infra packages run without -race: jsii-runtime-go waits on its node
# process from two goroutines (process.go ensureStarted and Close), which the
# race detector reports on jsii.Close. Our CDK code is single-goroutine.
# The CDK packages (infra/, cdk/, examples/cdk) run without -race: the jsii
# runtime's own goroutines race on its process handle when it closes.
CDK_PKGS := ^github.com/redisha/redisha/(infra|cdk|examples/cdk)(/|$$)
test-go:
	$(GO) test -race -count=1 -timeout 25m $$($(GO) list $(PKGS) | grep -Ev '$(CDK_PKGS)')
	$(GO) test -count=1 -timeout 10m $$($(GO) list $(PKGS) | grep -E '$(CDK_PKGS)')

# The inner loop: go test -short, without -race and the CDK packages. The
# long tests say they are skipped (t.Skip under testing.Short: the end-to-end
# test/ package, the Lambda binary in lambda/promoter, all but one fault of
# the probe's catalogue, four cluster scenarios of the checker, the cluster client's and status's two-cluster tests); the drill's scenarios and game-day files (internal/drill, a minute
# each) are left out by name here. make test never sets -short. Four test
# binaries run at once (-p 4, twice the cores): these tests mostly wait on
# servers and timeouts, and the lane takes about half the time it takes at -p 2.
.PHONY: test-short
DRILL_SCENARIOS := ^(TestScenario(RegionLost|RegionLostAuto|RegionStalled|PrimaryCrash|ObserversPartition|LinkBroken|StaleSecondary|Cooldown|Switchover)|TestGameDayExamples)$$
test-short: deps-redis deps-examples ## the inner loop: the short lane of go test (under 2 minutes), no synth
	@echo "short lane: skips test/, lambda/promoter's binary, the probe's long faults and the drill scenarios (make test runs them)"
	$(GO) test -short -count=1 -p 4 -timeout 5m -skip '$(DRILL_SCENARIOS)' $$($(GO) list $(PKGS) | grep -Ev '$(CDK_PKGS)')

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

vulncheck: ## govulncheck (pinned) against a pinned copy of the Go vulnerability database; fails on a called finding not in .ci/vuln-accepted
	@GO=$(GO) bash scripts/vulncheck.sh

bench: deps-redis ## run the benchmarks (figures are recorded in README.md)
	$(GO) test -run '^$$' -bench . -benchmem -timeout 20m $(PKGS)

clean:
	rm -rf build cdk.out dist

# A release: what a tag publishes. VERSION, COMMIT and DATE come from git and
# are linked into every binary (internal/buildinfo). VERSION is the tag
# (v0.1.0), or v0.0.0-<commit> between tags, with -dirty for uncommitted
# changes; DATE is the commit's time, not the clock's, so one commit always
# builds the same bytes.
DIST    ?= dist
DESCRIBE := $(shell git describe --tags --match 'v[0-9]*' --dirty --always --abbrev=12 2>/dev/null)
VERSION ?= $(if $(filter v%,$(DESCRIBE)),$(DESCRIBE),v0.0.0-$(or $(DESCRIBE),unknown))
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
BUILDINFO      := github.com/redisha/redisha/internal/buildinfo
RELEASE_LDFLAGS = -s -w -buildid= -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT) -X $(BUILDINFO).date=$(DATE)
# -trimpath keeps the build machine's paths out of the binaries (one of the
# conditions of a reproducible build); CGO_ENABLED=0 makes the CLI static. The
# release test overrides both, RELEASE_BUILDFLAGS=-buildvcs=false RELEASE_CGO=,
# to reuse what the rest of the suite compiled.
RELEASE_BUILDFLAGS ?= -trimpath -buildvcs=false
RELEASE_CGO        ?= 0
RELEASE_VARS    = DIST='$(DIST)' VERSION='$(VERSION)' COMMIT='$(COMMIT)' DATE='$(DATE)' \
                  RELEASE_BUILDFLAGS='$(RELEASE_BUILDFLAGS)' RELEASE_CGO='$(RELEASE_CGO)'
CLI_PLATFORMS  := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

# The oldest Go whose standard library has no called vulnerability in the
# pinned database (.ci/vuln-accepted lists what older ones carry).
RELEASE_GO_MIN := go1.26.10
release: deps-build ## the release into dist/: the CLI for linux/darwin x amd64/arm64, both Lambda zips, SHA256SUMS
	@have=$$($(GO) env GOVERSION); if [ "$$(printf '%s\n%s\n' "$(RELEASE_GO_MIN)" "$$have" | sort -V | head -1)" != "$(RELEASE_GO_MIN)" ]; then \
	  echo "release: WARNING: $$have is older than $(RELEASE_GO_MIN); its standard library carries the vulnerabilities listed in .ci/vuln-accepted. Build a release to publish with $(RELEASE_GO_MIN) or later."; fi
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@for p in $(CLI_PLATFORMS); do $(MAKE) --no-print-directory $(RELEASE_VARS) release-cli OS=$${p%/*} ARCH=$${p#*/} || exit 1; done
	@$(MAKE) --no-print-directory $(RELEASE_VARS) release-lambda NAME=checker PKG=./lambda
	@$(MAKE) --no-print-directory $(RELEASE_VARS) release-lambda NAME=promoter PKG=./lambda/promoter
	@cd $(DIST) && rm -f SHA256SUMS && sha256sum -- * > SHA256SUMS
	@echo "release $(VERSION) ($(COMMIT), $(DATE)) in $(DIST)/:" && cd $(DIST) && ls -l

release-cli: ## one CLI of the release: make release-cli OS=linux ARCH=amd64 [DIST=dir]
	@test -n "$(OS)" -a -n "$(ARCH)" || { echo "release-cli: set OS and ARCH, e.g. make release-cli OS=linux ARCH=amd64"; exit 2; }
	@mkdir -p $(DIST)
	CGO_ENABLED=$(RELEASE_CGO) GOOS=$(OS) GOARCH=$(ARCH) $(GO) build $(RELEASE_BUILDFLAGS) -ldflags='$(RELEASE_LDFLAGS)' \
	  -o $(DIST)/redisha_$(VERSION)_$(OS)_$(ARCH) ./cmd/redisha

# A Lambda zip is reproducible: a static, trimmed binary, its time set to the
# commit's (zip stores it) and no extra attributes (-X).
release-lambda: ## one Lambda zip of the release (linux/arm64): make release-lambda NAME=checker PKG=./lambda [DIST=dir]
	@test -n "$(NAME)" -a -n "$(PKG)" || { echo "release-lambda: set NAME and PKG, e.g. make release-lambda NAME=checker PKG=./lambda"; exit 2; }
	@mkdir -p $(DIST)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc $(RELEASE_BUILDFLAGS) \
	    -ldflags='$(RELEASE_LDFLAGS)' -o "$$tmp/bootstrap" $(PKG) && \
	  chmod 0755 "$$tmp/bootstrap" && touch -d "$(DATE)" "$$tmp/bootstrap" && \
	  out="$(abspath $(DIST))/redisha-$(NAME)_$(VERSION)_linux_arm64.zip" && rm -f "$$out" && \
	  (cd "$$tmp" && TZ=UTC zip -q -X "$$out" bootstrap) && echo "built $(DIST)/redisha-$(NAME)_$(VERSION)_linux_arm64.zip"

.PHONY: drill
# SHARDS=3 synthesizes (and so rehearses) both members in cluster mode: the
# drill takes the shard count from the templates, never from a flag of its own.
ifneq ($(SHARDS),)
SYNTH_FLAGS += -c shards=$(SHARDS)
endif

drill: deps-redis deps-examples synth ## synthesize the app and rehearse its templates here, measured (region A lost); DRILL_FLAGS="--scenario switchover --speed 60", SHARDS=3
	@mkdir -p build/local build/drill
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc -o build/local/bootstrap ./lambda
	$(GO) build -o build/redisha ./cmd/redisha
	build/redisha drill --templates cdk.out --bootstrap build/local/bootstrap $(DRILL_FLAGS)
