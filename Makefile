# LabelShare: `make run` brings up a local chain with the protocol deployed and settles an example
# epoch; `make test` runs every test. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
SOLC_VERSION := 0.8.30
ANVIL_PORT ?= 8545
API_PORT ?= 8000
RUN_DIR := .run
# Each local stack (an anvil and an API, named by their ports) keeps all its state in its own folder:
# chain state, deployment record, database, manifests, logs, pid files. labelshare.deployment.run_dir
# reads it from LABELSHARE_RUN_DIR (and names the default stack's folder the same way).
STACK_DIR := $(RUN_DIR)/$(ANVIL_PORT)-$(API_PORT)
CHAIN_URL := http://127.0.0.1:$(ANVIL_PORT)
API_URL := http://127.0.0.1:$(API_PORT)
# What every command that starts or talks to this stack runs with (never exported to `make test`).
STACK_ENV := LABELSHARE_RUN_DIR=$(CURDIR)/$(STACK_DIR) LABELSHARE_RPC_URL=$(CHAIN_URL)
APE_STACK_ENV := APE_FOUNDRY_HOST=$(CHAIN_URL) LABELSHARE_RUN_DIR=$(CURDIR)/$(STACK_DIR)
# ... plus the sign-in domain, which the API and the clients that sign in to it must agree on.
LABELSHARE_SIWE_DOMAIN ?= localhost:$(API_PORT)
CLIENT_ENV := $(STACK_ENV) LABELSHARE_SIWE_DOMAIN=$(LABELSHARE_SIWE_DOMAIN)

export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# The solc-js adapter is the only "installed" compiler py-solc-x and ape-solidity can see.
export SOLCX_BINARY_PATH := $(CURDIR)/.solcx
# Keep Ape's package cache inside the project, so a fresh clone is self-contained.
export APE_DATA_FOLDER := $(CURDIR)/.ape

.PHONY: setup browser compile up run chain api stop test gas bench evaluate simulate screenshots env clean

WEB_DIR := backend/labelshare/web
WEB_SRC := $(wildcard $(WEB_DIR)/src/*.js $(WEB_DIR)/src/*/*.js)
WEB_BUNDLE := $(WEB_DIR)/static/dist/app.js
SWAGGER_UI := $(WEB_DIR)/static/dist/swagger-ui

setup: $(VENV)/.installed node_modules/.installed .solcx/solc-v$(SOLC_VERSION) .deps/openzeppelin-contracts.stamp \
	$(WEB_BUNDLE) $(SWAGGER_UI)/swagger-ui-bundle.js browser

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c requirements.lock -e '.[test]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Only OpenZeppelin's .sol files: see the dependencies note in ape-config.yaml.
.deps/openzeppelin-contracts.stamp: node_modules/.installed
	rm -rf .deps/openzeppelin-contracts && mkdir -p .deps/openzeppelin-contracts
	cd node_modules/@openzeppelin/contracts && find . -name '*.sol' -exec cp --parents {} $(CURDIR)/.deps/openzeppelin-contracts/ \;
	@touch $@

# The web page's script: our modules with viem, merkle-tree and canonicalize from node_modules,
# bundled into one file the API serves; the page loads nothing from elsewhere.
$(WEB_BUNDLE): node_modules/.installed $(WEB_SRC)
	node_modules/.bin/esbuild $(WEB_DIR)/src/main.js --bundle --format=esm --target=es2022 --minify \
	  --sourcemap --log-level=warning --outfile=$@

# The API's /docs: Swagger UI's assets from the npm package, served with the web page's files.
$(SWAGGER_UI)/swagger-ui-bundle.js: node_modules/.installed
	@mkdir -p $(SWAGGER_UI)
	cp node_modules/swagger-ui-dist/{swagger-ui-bundle.js,swagger-ui.css,favicon-32x32.png} $(SWAGGER_UI)/

# The browser test drives Debian's chromium (Playwright's own browser downloads are not used).
browser:
	@command -v chromium >/dev/null || { \
	  APT="$$([ "$$(id -u)" = 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get"; \
	  $$APT install -y chromium || ($$APT update && $$APT install -y chromium); }

.solcx/solc-v$(SOLC_VERSION): tools/solc/solc
	@mkdir -p .solcx
	ln -sf ../tools/solc/solc $@

compile: setup
	ape compile

# A local anvil on $(ANVIL_PORT) whose state survives restarts ($(STACK_DIR)/anvil-state.json).
chain: setup
	@mkdir -p $(STACK_DIR)
	@if $(VENV)/bin/python -m labelshare.admin.anvil_probe $(CHAIN_URL); then \
	  echo "anvil already running on $(CHAIN_URL)"; \
	else \
	  nohup anvil --host 127.0.0.1 --port $(ANVIL_PORT) --state $(STACK_DIR)/anvil-state.json \
	    --state-interval 1 > $(STACK_DIR)/anvil.log 2>&1 & echo $$! > $(STACK_DIR)/anvil.pid; \
	  for i in $$(seq 50); do grep -q "Listening on" $(STACK_DIR)/anvil.log 2>/dev/null && break; sleep 0.2; done; \
	  grep -q "Listening on" $(STACK_DIR)/anvil.log || { cat $(STACK_DIR)/anvil.log; rm -f $(STACK_DIR)/anvil.pid; exit 1; }; \
	  echo "anvil started on $(CHAIN_URL) (pid $$(cat $(STACK_DIR)/anvil.pid), log $(STACK_DIR)/anvil.log)"; \
	fi

# The local stack: anvil, the contracts (deployed once per chain state), the API on that chain.
up: compile chain
	$(APE_STACK_ENV) ape run deploy --network ethereum:local:foundry
	@$(MAKE) --no-print-directory api

run: up
	$(CLIENT_ENV) python -m labelshare.demo --api $(API_URL)
	@echo
	@echo "LabelShare is running (this stack's state: $(STACK_DIR)/):"
	@echo "  web page              http://localhost:$(API_PORT)/app/"
	@echo "  API and OpenAPI docs  http://localhost:$(API_PORT)/docs   (log: $(STACK_DIR)/api.log)"
	@echo "  chain (anvil)         $(CHAIN_URL)      (log: $(STACK_DIR)/anvil.log)"
	@echo "  deployment record     $(STACK_DIR)/ethereum-local.json"
	@echo "  epoch manifests       $(STACK_DIR)/manifests/"
	@echo "  audit (after eval \"\$$(make -s env)\"):"
	@echo "    $(STACK_ENV) labelshare audit"
	@echo "    $(APE_STACK_ENV) ape run audit --network ethereum:local:foundry"
	@echo "'make stop ANVIL_PORT=$(ANVIL_PORT) API_PORT=$(API_PORT)' stops the API and the chain."

# $(call stop_pid,PIDFILE): SIGTERM the process a pid file names and wait (up to 10 s) until it
# has exited, so its port is free when the recipe goes on; then remove the pid file.
stop_pid = if [ -f $(1) ]; then pid=$$(cat $(1)); kill $$pid 2>/dev/null; \
	for i in $$(seq 100); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; rm -f $(1); fi

# The API (with its settlement worker) in the background, on this stack's chain and deployment;
# restarted so it runs the current code. Fails, with the reason and the log's tail, unless the
# process started here answers and serves the deployment recorded for this chain.
api: setup
	@mkdir -p $(STACK_DIR)
	@$(call stop_pid,$(STACK_DIR)/api.pid)
	@$(CLIENT_ENV) nohup labelshare serve --port $(API_PORT) > $(STACK_DIR)/api.log 2>&1 & echo $$! > $(STACK_DIR)/api.pid
	@echo "API starting on $(API_URL) (pid $$(cat $(STACK_DIR)/api.pid), chain $(CHAIN_URL), log $(STACK_DIR)/api.log)"
	@$(STACK_ENV) $(VENV)/bin/python -m labelshare.admin.stack_check --api $(API_URL) \
	  --pid $$(cat $(STACK_DIR)/api.pid) --rpc-url $(CHAIN_URL) --log $(STACK_DIR)/api.log \
	  || { $(call stop_pid,$(STACK_DIR)/api.pid); exit 1; }

# Stops this stack (ANVIL_PORT, API_PORT): only what its own pid files name.
stop:
	@if [ -f $(STACK_DIR)/api.pid ]; then $(call stop_pid,$(STACK_DIR)/api.pid); echo "API stopped ($(API_URL))"; fi
	@if [ -f $(STACK_DIR)/anvil.pid ]; then $(call stop_pid,$(STACK_DIR)/anvil.pid); echo "anvil stopped ($(CHAIN_URL))"; fi

# pytest-xdist workers, two per core: most tests wait on anvil, a server or a subprocess, so one
# per core left the CPU half idle (measured: docs in README "Tests"); TEST_WORKERS=0 runs in one
# process. The summary lists the slowest tests and every skip's reason. Scheduling: LONGEST_FIRST
# in tests/conftest.py.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))
test: compile
	ape test tests -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=25 -rs

# Label aggregation against ground truth (CROWD_DATA: folders of answers.csv + truth.csv).
CROWD_DATA ?= ../shared/crowd-data
evaluate: setup
	labelshare evaluate $(CROWD_DATA) --json docs/evaluation.json

# Honest annotators and spammers through the live API and chain; report and plot into docs/.
simulate: up
	$(CLIENT_ENV) labelshare simulate --api $(API_URL) --out docs

# Gas of every external contract function on its success path (tests/gas), into docs/.
gas: compile
	@mkdir -p docs
	ape test tests/gas -q -p no:logging --gas | tee docs/gas-report.txt

# Benchmarks, not tests: gas, API load, settlement at scale; each part writes .bench/<part>.json,
# the report merges them into docs/benchmarks.{json,md} with the machine they ran on.
bench: compile
	@mkdir -p .bench
	ape run bench_gas --network ethereum:local:foundry
	python -m benchmarks.api_load --profile --out .bench/api.json
	python -m benchmarks.api_load --replicas 2 --out .bench/replicas.json
	python -m benchmarks.settlement --out .bench/settlement.json
	python -m benchmarks.report --parts .bench --out docs

# Re-runs the browser tests, saving their screenshots of the web page into docs/screenshots/.
screenshots: compile
	LABELSHARE_SCREENSHOTS=1 ape test tests/backend/test_web_page.py tests/backend/test_web_licences.py -q -p no:logging

# `eval "$$(make -s env)"` puts ape, anvil and the solc adapter on this shell's path.
env:
	@echo 'export PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$$PATH"'
	@echo 'export SOLCX_BINARY_PATH="$(SOLCX_BINARY_PATH)" APE_DATA_FOLDER="$(APE_DATA_FOLDER)"'

# Stops every stack started from this checkout (the pid files under .run/), then removes the build and state.
clean:
	@for pid in $(RUN_DIR)/*/*.pid; do [ -f "$$pid" ] && kill $$(cat "$$pid") 2>/dev/null; rm -f "$$pid"; done; true
	rm -rf .build .ape .run .deps contracts/.cache

# Static analysis: slither in its own virtual environment (.tools/slither, pinned by
# tools/slither/requirements.txt; its eth-abi/eth-utils 6 conflict with eth-ape's pins) over every
# contract in contracts/, compiled by the solc-js adapter with slither.config.json. Writes
# $(SLITHER_OUT)/slither.{json,md}; fails on a high or medium finding not disabled with a reason.
.PHONY: slither
SLITHER_VENV := .tools/slither
SLITHER_OUT ?= docs

$(SLITHER_VENV)/.installed: tools/slither/requirements.txt
	@test -x $(SLITHER_VENV)/bin/python || $(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/slither/requirements.txt
	@touch $@

slither: $(SLITHER_VENV)/.installed node_modules/.installed .deps/openzeppelin-contracts.stamp
	$(SLITHER_VENV)/bin/python tools/slither/run.py --out $(SLITHER_OUT)
