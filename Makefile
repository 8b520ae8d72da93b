# The project's interface: CI calls these targets and nothing else.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard protos/dpa/registry/v1/*.proto)
GEN_DIR := clients

.PHONY: all venv protos certs run test lint bench bench-independent fuzz clean

all: protos

$(STAMP): pyproject.toml clients/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ./clients -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Generated code lives in the client distribution (one copy, shared by the
# server) and is committed so `pip install ./clients` works on its own;
# tests/test_protos_fresh.py fails when it is stale.
protos: $(STAMP)
	$(PY) -m registry.tools.genprotos $(GEN_DIR)

certs: protos
	@test -f certs/ca.crt || $(PY) -m registry.cli certs init
	@test -f certs/staff-admin.crt || $(PY) -m registry.cli certs issue --role staff --name admin

run: certs
	mkdir -p var
	$(PY) -m registry.cli serve

test: protos
	$(PY) -m pytest

# buf (the contract gate) comes from npm into .tools/; without npm it is skipped.
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf

$(BUF):
	npm install --silent --no-save --prefix .tools @bufbuild/buf@$(BUF_VERSION)

# The long fuzz run: FUZZ_EXAMPLES requests over every RPC per backend
# (PostgreSQL when DPA_TEST_POSTGRES_URL is set), with status counts per RPC.
FUZZ_EXAMPLES ?= 10000
fuzz: protos
	DPA_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -s tests/test_fuzz.py -k fuzz_every_rpc

lint: protos
	$(PY) -m ruff check registry clients/dpa_client clients/dpa_decisions tests bench
	$(PY) -m ruff format --check registry clients/dpa_client clients/dpa_decisions tests bench
	$(PY) -m mypy registry clients/dpa_client clients/dpa_decisions
	$(VENV)/bin/lint-imports
	@if command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(BUF) && \
		$(BUF) lint && \
		if git rev-parse --verify -q main >/dev/null; then \
			$(BUF) breaking --against '.git#branch=main,subdir=protos'; \
		else echo "buf breaking: no main branch here, skipped"; fi; \
	else echo "buf lint/breaking skipped: npm not found"; fi

bench: protos
	$(PY) -m bench.run

# The independent load generator (bench/loadgen.js, Node.js) beside the
# Python one: the hot-path ratios from both, side by side (about 3 minutes).
# Its packages come from npm into their own prefix (an install without a
# package.json removes what another one put there, buf included).
LOADGEN_PACKAGES := @grpc/grpc-js@1.14.7 @grpc/proto-loader@0.8.1 grpc-health-check@2.1.0
LOADGEN := .tools/loadgen/node_modules/grpc-health-check/package.json

$(LOADGEN):
	npm install --silent --no-save --prefix .tools/loadgen $(LOADGEN_PACKAGES)

bench-independent: protos
	@if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(LOADGEN) && $(PY) -m bench.independent; \
	else echo "bench-independent skipped: node and npm not found"; fi

clean:
	rm -rf $(VENV) var/*.db*
