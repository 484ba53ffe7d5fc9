# Two commands: `make run` brings Fangpin up, `make test` runs the whole suite.
# Only Python 3.11+ and make are needed; everything else is installed here.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test install browser-deps lint unit integration e2e bench contracts clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) uv.lock pyproject.toml shared/pyproject.toml \
		$(wildcard services/*/pyproject.toml)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/fangpin run

lint: install
	$(BIN)/ruff format --check shared services tests bench
	$(BIN)/ruff check shared services tests bench
	$(BIN)/mypy shared/fangpin services/intake/intake services/screening/screening \
		services/casework/casework services/assistance/assistance \
		services/reporting/reporting services/web/web

browser-deps:
	scripts/browser-deps

test: lint browser-deps
	$(BIN)/pytest

unit: install
	$(BIN)/pytest services

integration: install
	$(BIN)/pytest tests/integration

e2e: install
	$(BIN)/pytest tests/e2e

bench: install
	$(BIN)/python bench/pipeline.py

contracts: install
	$(BIN)/fangpin contracts docs/contracts

clean:
	rm -rf $(VENV) $(TOOLS)
