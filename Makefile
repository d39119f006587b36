# kipp — every target is a one-liner calling a script in scripts/; add stages there, not here.
# `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help setup dev test bench soak fuzz fmt lint clean distclean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## install what is missing (Node 22, npm deps, wasm-bindgen, worker-build, chromium, ...); fast when all is there
	@scripts/setup.sh

dev: setup ## run the local stack: emulator :8788 + edge worker :8787, sign-in link; Ctrl-C stops it
	@scripts/dev.sh

test: setup ## every check in order (fmt, clippy, host + wasm tests, ...); ends with "N passed, N failed"
	@scripts/test.sh

bench: setup ## run the benchmarks and rewrite docs/benchmarks.md
	@scripts/bench.sh

soak: setup ## the stack under load + faults for SOAK_SECONDS (default 300), then assert and print a ledger
	@scripts/soak.sh

fuzz: ## run each cargo-fuzz target for FUZZ_SECONDS (default 60)
	@scripts/fuzz.sh

fmt: ## format the code (cargo fmt)
	@scripts/fmt.sh

lint: ## only the static checks of make test (fmt --check, clippy host + wasm32)
	@scripts/test.sh fmt clippy clippy-wasm

clean: ## remove build output (target/, worker build, generated pkg/ files) and the local worker's state (.wrangler/)
	@scripts/clean.sh

distclean: ## clean, and also remove node_modules/ and .tools/ (make setup reinstalls them)
	@scripts/clean.sh --all
