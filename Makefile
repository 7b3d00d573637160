# housekeeping: build, test and release. `make -n TARGET` shows the exact commands without running them.
SHELL := /bin/bash
DENO ?= scripts/deno.sh

.PHONY: help deno services services-down test check fmt bench run

help:
	@echo "make run            archive local test traffic with the embedded defaults (starts a local Kafka)"
	@echo "make test           install what is missing, start the services, run checks and every test"
	@echo "make check          deno fmt --check, deno lint, deno check"
	@echo "make bench          benchmarks (ratios against measured ceilings)"
	@echo "make services       start Kafka, MinIO, PostgreSQL on loopback (scripts/services.sh up)"
	@echo "make services-down  stop them"
	@echo "make deno           install the pinned Deno into .tools/ when none is on PATH"

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
