# converge — see README.md. Two commands matter on a fresh machine: `make demo` and `make test`.
SHELL := /usr/bin/env bash
GO ?= go
BIN := $(CURDIR)/bin
TESTBIN ?= $(HOME)/.cache/converge/testbin
export TESTBIN
DEMO_DIR ?= $(CURDIR)/.cache/demo
TOOLS ?= $(HOME)/.cache/converge/tools
CONTROLLER_GEN_VERSION := v0.23.0
CONTROLLER_GEN := $(TOOLS)/controller-gen-$(CONTROLLER_GEN_VERSION)
GORELEASER_VERSION := v2.15.1
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
TEST_FLAGS ?=
# image: the registry `make image` pushes to (the loopback registry of the local cluster) and the image's
# time, the commit's, so that the same commit gives the same binaries and the same image digest.
REGISTRY ?= localhost:5000
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_DATE := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
IMAGE_LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(IMAGE_DATE)
IMAGE_ARCHS := amd64 arm64
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
IMAGE_DIR ?= $(BIN)/image
IMAGE_ARGS = -version $(VERSION) -revision "$(REVISION)" -created $(SOURCE_DATE_EPOCH) \
	$(foreach arch,$(IMAGE_ARCHS),-binary linux/$(arch)=$(IMAGE_DIR)/linux_$(arch)/converge)

.PHONY: fuzz fuzz-ci all build image image-layout image-binaries test test-node deps testbin testbin-k8s generate check-generated vet completions demo bench bench-scale bench-node bench-spokes release-check release-snapshot tools clean tidy-check size-check size-budget size-report

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/converge ./cmd/converge

## image: cross-build static linux binaries and push the image to $(REGISTRY)/converge:$(VERSION) (an OCI
## index for linux/amd64 and linux/arm64 with SBOMs, built by engine/agentimage, no Docker); prints the digest
image: image-binaries
	$(GO) run ./hack/agentimage $(IMAGE_ARGS) -push $(REGISTRY)/converge:$(VERSION)

## image-layout: the same image written as an OCI layout to $(IMAGE_DIR)/oci with its digest in
## $(IMAGE_DIR)/digest, pushed nowhere (offline; the release's before hook)
image-layout: image-binaries
	$(GO) run ./hack/agentimage $(IMAGE_ARGS) -oci-layout $(IMAGE_DIR)/oci -digest-file $(IMAGE_DIR)/digest

image-binaries:
	for arch in $(IMAGE_ARCHS); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(IMAGE_LDFLAGS)" -o $(IMAGE_DIR)/linux_$$arch/converge ./cmd/converge || exit 1; \
	done

## testbin-k8s: only etcd, kube-apiserver, kube-controller-manager and kubectl into $(TESTBIN) (cached)
testbin-k8s:
	hack/testbin.sh

## testbin: testbin-k8s plus what only tests use: the node's kubelet, kube-proxy, kube-scheduler, CoreDNS and
## pause, the S3 server, Gitea and nats-server (cached)
testbin: deps testbin-k8s
	hack/testbin-node.sh
	hack/s3server.sh
	hack/gitea.sh
	hack/nats.sh

## deps: Debian packages the tests use as real servers
deps:
	hack/deps.sh

## test: every test, against a real local control plane and real source servers
test: testbin deps
	$(GO) test $(TEST_FLAGS) ./...

## test-node: the tests that need a real worker node (kubelet, containerd, kube-proxy; root): the agent as a Pod
test-node: testbin deps
	$(GO) test -tags node $(TEST_FLAGS) -timeout 30m ./engine/testenv/node/

vet:
	$(GO) vet ./...

## fuzz: every fuzz target (func Fuzz* in the tests) for FUZZTIME each (default 3s); FUZZ_PACKAGES
## narrows it; CI runs fuzz-ci (substitution, decoding, archives, image markers, receiver payloads)
FUZZTIME ?= 3s
FUZZ_CI_PACKAGES := ./engine/build ./engine/manifest ./engine/sopsdoc ./engine/source ./engine/image ./engine/receiver
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) hack/fuzz.sh

fuzz-ci:
	FUZZTIME=$(FUZZTIME) FUZZ_PACKAGES="$(FUZZ_CI_PACKAGES)" GO=$(GO) hack/fuzz.sh

$(CONTROLLER_GEN):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/tmp $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(TOOLS)/tmp/controller-gen $@

$(BIN)/goreleaser:
	GOBIN=$(BIN) $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

tools: $(CONTROLLER_GEN) $(BIN)/goreleaser

## generate: deepcopy functions and CRD YAML from the API types in crds/, and shell completions
generate: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./crds/...
	rm -rf crds/bases
	$(CONTROLLER_GEN) crd:crdVersions=v1 paths=./crds/... output:crd:artifacts:config=crds/bases
	$(MAKE) completions

completions:
	mkdir -p completions $(BIN)
	$(GO) build -o $(BIN)/converge-completions ./cmd/converge
	for sh in bash zsh fish powershell; do \
		ext=$$sh; [ $$sh = powershell ] && ext=ps1; \
		$(BIN)/converge-completions completion $$sh > completions/converge.$$ext.tmp && mv completions/converge.$$ext.tmp completions/converge.$$ext || exit 1; \
	done

## check-generated: fail when committed generated files differ from what `make generate` writes
check-generated: generate
	@if [ -n "$$(git status --porcelain -- crds completions)" ]; then \
		echo "generated files are stale; run 'make generate' and commit:"; git status --porcelain -- crds completions; git diff --stat -- crds completions; exit 1; fi

## tidy-check: fail when go.mod and go.sum are not what `go mod tidy` writes
tidy-check:
	$(GO) mod tidy -diff

## size-check: fail when the release-built binary outgrows hack/size-budget (size-budget raises it, size-report explains it)
size-check:
	GO=$(GO) hack/size.sh check

size-budget:
	GO=$(GO) hack/size.sh budget

size-report:
	GO=$(GO) hack/size.sh report

## demo: a real node on this machine (root), the agent image, the example repository bootstrapped from a
## local Git server, a commit applied by the agent; builds only what it runs; restores the host at the end
## (DEMO_KEEP=1 keeps the node until Ctrl-C)
demo:
	DEMO_DIR=$(DEMO_DIR) LDFLAGS="$(LDFLAGS)" hack/demo.sh

bench: testbin deps build
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...
	$(GO) run ./hack/procbench -converge $(BIN)/converge

## bench-scale: Flux's benchmark layout at SCALE_SIZES Kustomizations (default 1000,5000,10000) over
## SCALE_SHARDS sharded agents (default 1,2,4) on the local control plane: time to all Ready, each agent's
## peak memory, API requests/s, steady-state CPU and requests/min over SCALE_IDLE (default 30s), and the
## API server's own limit (raw server-side apply from 32 workers). Not part of `make test`.
SCALE_SIZES ?= 1000,5000,10000
SCALE_SHARDS ?= 1,2,4
SCALE_IDLE ?= 30s
bench-scale: testbin-k8s
	CONVERGE_BENCH_SIZES=$(SCALE_SIZES) CONVERGE_BENCH_SHARDS=$(SCALE_SHARDS) CONVERGE_BENCH_IDLE=$(SCALE_IDLE) \
		$(GO) test -run '^$$' -bench '^(BenchmarkAPIServerCeiling|BenchmarkAgentShards)$$' -benchtime 1x -timeout 6h ./engine/agent/

## bench-node: the agent as a Pod on the real node (root), default flags, Flux's benchmark layout:
## time to all Ready and the container's memory from its cgroup
bench-node: testbin deps
	$(GO) test -tags node -run '^$$' -bench AgentPod -benchtime 1x -timeout 40m ./engine/testenv/node/

## bench-spokes: hub and spoke, 100 spokes (10 API servers x 10 namespaces), one agent process at default
## flags: its peak RSS and Go heap, and the latency from a new commit to applied on every spoke
bench-spokes: testbin deps
	$(GO) test -run '^$$' -bench AgentSpokes -benchtime 1x -timeout 30m ./engine/agent/

release-check: $(BIN)/goreleaser
	$(BIN)/goreleaser check

release-snapshot: $(BIN)/goreleaser
	$(BIN)/goreleaser release --snapshot --clean

clean:
	rm -rf $(BIN) dist .cache
