# HTX Monitor — every command sets itself up: it creates .venv and installs the project when needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
AGENCY ?= SNN
SCOPE  ?= registry:read registry:write indicators:read indicators:admin notifications:read notifications:write

.PHONY: install run test test-unit lint typecheck fmt migrate token recompute bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install  ## start PostgreSQL + Kafka, migrate, seed, run the three services (Ctrl-C stops all)
	$(PY) -m shared.infra run

test: install lint typecheck  ## ruff, mypy, then every test against real PostgreSQL and Kafka
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

fmt: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: install
	$(PY) -m shared.infra migrate

token: install  ## make token AGENCY=UBND-916 SCOPE="registry:read"
	@$(PY) -m shared.auth token --agency "$(AGENCY)" --scope "$(SCOPE)"

recompute: install  ## rebuild the indicators from their projection and report any difference (DATABASE_URL)
	$(PY) -m services.indicators.workers.recompute

bench: install  ## benchmark against raw floors (ARGS=--quick: < 3 min); results in bench/results/
	$(PY) -m bench $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
