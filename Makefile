# See https://tech.davis-hansson.com/p/make/
SHELL := bash
.DELETE_ON_ERROR:
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --warn-undefined-variables
MAKEFLAGS += --no-builtin-rules
MAKEFLAGS += --no-print-directory

GO ?= go
# buf lives in its own module (tools/go.mod) so its ~90 dependencies stay out of
# the application's go.mod; see ../shared/reference/tooling.md §3.4.
BUF := $(GO) tool -modfile=tools/go.mod buf
# The race detector is always on: the fake and the services are concurrent by
# design, and a data race is a bug whether or not CI is the one to find it.
TEST_FLAGS ?= -race -count=1
# Static binaries (CGO_ENABLED=0) of the three servers and the dev-stack
# driver; the images copy them onto scratch, so nothing is pulled.
BIN := .tmp/bin
SERVERS := fakeconversations flowservice participantservice
fakeconversations_PKG := ./fakes/conversations/cmd/fakeconversations
flowservice_PKG := ./services/flow/cmd/flowservice
participantservice_PKG := ./services/participant/cmd/participantservice
IMAGE_TAG ?= dev

.PHONY: help
help: ## Describe useful make targets
	@grep -E '^[a-zA-Z_-]+:.*?## .*$$' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "}; {printf "%-16s %s\n", $$1, $$2}'

.PHONY: test
test: ## Run all unit and in-process integration tests (no Docker needed)
	$(GO) test $(TEST_FLAGS) ./...

.PHONY: run
run: build ## Run the whole stack (fake, FlowService, ParticipantService) with the demo flow; Ctrl-C stops it
	$(BIN)/devstack run

.PHONY: demo
demo: build ## Play the tutorial against a running stack (or a fresh one) and print the transcript
	$(BIN)/devstack demo

# LOAD_FLAGS are convoflow-load's flags; the default is a 10 s closed loop
# of 64 customers against make run's stack (see README, "Performance").
LOAD_FLAGS ?=
.PHONY: load
load: build ## Drive customers through a running make run stack and report throughput and latency (LOAD_FLAGS='--rate 500')
	FLOWSERVICE_API_KEY=$${FLOWSERVICE_API_KEY:-convoflow-dev-key-0123456789} $(BIN)/convoflow-load $(LOAD_FLAGS)

.PHONY: build
build: ## Build the servers and the dev-stack driver as static binaries into .tmp/bin
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ $(foreach s,$(SERVERS),$($(s)_PKG)) ./examples/devstack ./load/cmd/convoflow-load

.PHONY: images
images: build ## Build the three scratch images convoflow/NAME:$(IMAGE_TAG) with the classic builder
	@command -v docker >/dev/null || { echo "make images needs Docker; none found"; exit 1; }
	@for s in $(SERVERS); do \
		ctx=dist/docker/$$s; rm -rf $$ctx; mkdir -p $$ctx; \
		cp $(BIN)/$$s docker/$$s.Dockerfile $$ctx/; \
		if [ $$s = flowservice ]; then mkdir $$ctx/data; fi; \
		echo "docker build convoflow/$$s:$(IMAGE_TAG)"; \
		DOCKER_BUILDKIT=0 docker build -q -f $$ctx/$$s.Dockerfile -t convoflow/$$s:$(IMAGE_TAG) $$ctx >/dev/null; \
	done

# e2e runs the three images as containers with testcontainers-go. Ryuk (the
# reaper) is an image from a registry, so it is off; the tests clean up after
# themselves and .ci/run sweeps what a killed run leaves.
.PHONY: e2e
e2e: ## Run the end-to-end suite against the images (needs a Docker engine)
	@docker info >/dev/null 2>&1 || { echo "make e2e needs a running Docker engine; none answered (docker info failed)"; exit 1; }
	$(MAKE) images
	TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 CONVOFLOW_IMAGE_TAG=$(IMAGE_TAG) $(GO) test -tags e2e -count=1 -timeout 20m -v ./e2e/...

.PHONY: lint
lint: ## Run go vet, check formatting, lint the protos and check gen/ is current
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(BUF) lint
	$(BUF) format -d --exit-code
	$(MAKE) checkgenerate

.PHONY: generate
generate: ## Format the protos and regenerate gen/ from proto/
	$(BUF) format -w
	$(BUF) generate

# checkgenerate regenerates and then fails if proto/ or gen/ differ from what
# git has: committed generated code must always match its sources, and the
# protos must be committed formatted.
.PHONY: checkgenerate
checkgenerate: generate ## Fail if `make generate` changes anything under proto/ or gen/
	@out="$$(git status --porcelain gen proto)"; if [ -n "$$out" ]; then echo "proto/ or gen/ is stale or uncommitted; run 'make generate' and commit:"; echo "$$out"; exit 1; fi

# Each fuzz target runs for FUZZTIME (CI uses a short run; go test allows
# one -fuzz target per invocation). The seed corpora also run in `make test`.
FUZZTIME ?= 15s
FUZZ_TARGETS := ./services/flow/engine:FuzzRead ./services/flow/engine:FuzzResume \
	./services/flow/engine:FuzzContextJSON ./services/flow/engine:FuzzExecutionJSON \
	./services/flow/engine/liquid:FuzzRender ./services/flow/engine/liquid:FuzzPlanMatchesLibrary \
	./services/flow/engine/predicate:FuzzEval ./services/flow:FuzzWebhook
# bench-smoke runs every benchmark once (-benchtime 1x), on SQLite and, for
# FlowService's end-to-end ones, on PostgreSQL too: CI keeps them compiling
# and working, and asserts no timing. Figures come from real runs (README).
.PHONY: bench-smoke
bench-smoke: ## Run every benchmark once so they cannot rot (no timing asserted)
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./...
	BENCH_STORE=postgres $(GO) test -run='^$$' -bench='WebhookToMessage|ParkedWaits' -benchtime=1x ./services/flow/

# Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" at the end of -fuzztime when a worker is mid-call
# (go.dev/issue/75804, fixed in Go 1.27). A failure that wrote no new input
# under testdata/fuzz/TARGET is that, and the target is run once more; one
# that wrote an input is a finding and fails at once.
.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 15s)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; corpus=$$pkg/testdata/fuzz/$$name; \
		for try in 1 2; do \
			echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
			before=$$( (ls $$corpus 2>/dev/null || true) | wc -l); \
			if $(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; then break; fi; \
			after=$$( (ls $$corpus 2>/dev/null || true) | wc -l); \
			if [ "$$after" != "$$before" ] || [ $$try = 2 ]; then exit 1; fi; \
			echo "fuzz $$name failed without a new input (go.dev/issue/75804): once more"; \
		done; \
	done

.PHONY: lintfix
lintfix: ## Rewrite Go files with gofmt
	gofmt -w $$(git ls-files '*.go')
