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

.PHONY: help
help: ## Describe useful make targets
	@grep -E '^[a-zA-Z_-]+:.*?## .*$$' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "}; {printf "%-16s %s\n", $$1, $$2}'

.PHONY: test
test: ## Run all unit and in-process integration tests (no Docker needed)
	$(GO) test $(TEST_FLAGS) ./...

.PHONY: lint
lint: ## Run go vet, check formatting, lint the protos and check gen/ is current
	$(GO) vet ./...
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

.PHONY: lintfix
lintfix: ## Rewrite Go files with gofmt
	gofmt -w $$(git ls-files '*.go')
