# housekeeping: build, test and release. `make -n TARGET` shows the exact commands without running them.
SHELL := /bin/bash
DENO ?= scripts/deno.sh
DOCKER ?= docker
# Local image name; `make push` tags it for every registry in REGISTRIES (space separated), for example
# REGISTRIES="<account>.dkr.ecr.<region>.amazonaws.com/scimma/housekeeping docker.io/scimma/housekeeping".
IMAGE ?= housekeeping
REGISTRIES ?= docker.io/scimma/housekeeping
DOCKER_BUILD_FLAGS ?= --pull
# Release inputs: GITHUB_REF=housekeeping-X.Y.Z or VERSION=X.Y.Z. GitHub Actions exports GITHUB_REF=refs/tags/... for
# a tag push, and make reads it from the environment; branch refs (refs/heads/...) are ignored except by `make push`.
VERSION ?=
GITHUB_REF ?=
STAGE := dist/stage

.PHONY: help deno services services-down test check fmt bench run version binary container push clean

help:
	@echo "make run            archive local test traffic with the embedded defaults (starts a local Kafka)"
	@echo "make test           install what is missing, start the services, run checks and every test"
	@echo "make check          deno fmt --check, deno lint, deno check"
	@echo "make bench          benchmarks (ratios against measured ceilings)"
	@echo "make services       start Kafka, MinIO, PostgreSQL on loopback (scripts/services.sh up)"
	@echo "make services-down  stop them"
	@echo "make deno           install the pinned Deno into .tools/ when none is on PATH"
	@echo "make binary         dist/housekeeping, stamped with VERSION= / GITHUB_REF= / git describe (needs denort:"
	@echo "                    DENORT_BIN=/path/to/denort where dl.deno.land is unreachable)"
	@echo "make container      docker image $(IMAGE):<version>"
	@echo "make push GITHUB_REF=housekeeping-X.Y.Z   build, tag X.Y.Z, X.Y, X and push to REGISTRIES=\"$(REGISTRIES)\""
	@echo "make version        the version (and for a release, the tags) the targets above would use"

deno:
	$(DENO) --version

services:
	scripts/services.sh up

services-down:
	scripts/services.sh down

test:
	scripts/test.sh

check:
	$(DENO) task check

fmt:
	$(DENO) fmt

bench:
	scripts/services.sh up
	eval "$$(scripts/services.sh env)" && $(DENO) task bench

run:
	scripts/run-demo.sh

# The version is worked out while make reads this file, and only for the goals that need it, so `make -n` prints
# the resolved commands and a bad version stops make before any command runs. scripts/version.sh has the rules.
version_sh = $(call shell_status,$(shell scripts/version.sh $(1) 2>&1))
shell_status = $(if $(.SHELLSTATUS),,$(error GNU make 4.2 or later is needed (macOS: brew install make, then gmake)))$\
  $(if $(filter 0,$(.SHELLSTATUS)),$(1),$(error $(1)))
quote = '$(subst ','\'',$(1))'
version_args = $(call quote,$(VERSION)) $(call quote,$(GITHUB_REF))
ifneq ($(filter push,$(MAKECMDGOALS)),)
BUILD_VERSION := $(call version_sh,release $(version_args))
RELEASE_TAGS := $(call version_sh,tags $(BUILD_VERSION))
else ifneq ($(filter version binary container,$(MAKECMDGOALS)),)
BUILD_VERSION := $(call version_sh,build $(version_args))
# Only shown by `make version`: the tags `make push` would push when this build is a release version.
RELEASE_TAGS := $(shell scripts/version.sh tags $(BUILD_VERSION) 2>/dev/null)
endif

version:
	@echo "version: $(BUILD_VERSION)"
	@$(if $(RELEASE_TAGS),echo "tags: $(RELEASE_TAGS)",true)

# Compiles a staged copy so the stamp never touches lib/version.ts of the work tree; `deno task compile` (deno.json)
# holds the compile flags for this target, the Dockerfile and a plain development build alike.
binary:
	rm -rf $(STAGE)
	mkdir -p $(STAGE)/testdata
	cp -R main.ts lib deno.json deno.lock $(STAGE)/
	cp -R testdata/samples $(STAGE)/testdata/
	scripts/stamp-version.sh $(BUILD_VERSION) $(STAGE)/lib/version.ts
	$(DENO) task --config $(STAGE)/deno.json compile
	mv $(STAGE)/dist/housekeeping dist/housekeeping
	rm -rf $(STAGE)
	dist/housekeeping --version

container:
	$(DOCKER) build $(DOCKER_BUILD_FLAGS) --build-arg VERSION=$(BUILD_VERSION) --tag $(IMAGE):$(BUILD_VERSION) .

# One tag and one push command per registry and tag, so that `make -n push` lists every image reference.
define push_one
$(DOCKER) tag $(IMAGE):$(BUILD_VERSION) $(1)
$(DOCKER) push $(1)

endef
push: container
	$(foreach registry,$(REGISTRIES),$(foreach tag,$(RELEASE_TAGS),$(call push_one,$(registry):$(tag))))

clean:
	rm -rf dist
