# The README's commands. Everything lands under .stack/ (git-ignored): the virtualenv,
# downloads (pip wheels, Kafka jars), server state and logs.
PYTHON ?= python3
STACK_HOME ?= $(CURDIR)/.stack
VENV := $(STACK_HOME)/venv
BIN := $(VENV)/bin
export PIP_CACHE_DIR := $(STACK_HOME)/cache/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: up down status test unit integration e2e compose-test lint format bench clean

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python dependencies into $(VENV)"
	@$(BIN)/pip install -q -e '.[dev]'
	@touch $@

# newman (Postman's runner) for the e2e and compose tests, pinned in package-lock.json
node_modules/.installed: package-lock.json
	@npm ci --no-audit --no-fund --cache $(STACK_HOME)/cache/npm
	@touch $@

## up: install what is missing, start Kafka, MariaDB, Prometheus, the exporters and the four services
up: $(BIN)/.installed
	@$(BIN)/python -m stack up

down:
	@$(BIN)/python -m stack down

status:
	@$(BIN)/python -m stack status

## test: everything CI runs: lint, then unit, integration and end-to-end tests against the real stack
test: lint
	@$(BIN)/python -m stack test-tools
	@$(BIN)/python -m stack up
	@$(MAKE) -s node_modules/.installed
	@$(BIN)/pytest --cov --cov-report=term:skip-covered -q
	@$(BIN)/python -m stack compose-test -q

## compose-test: the README's Docker path on a private Docker engine (see stack/compose.py)
compose-test: $(BIN)/.installed
	@$(BIN)/python -m stack test-tools
	@$(MAKE) -s node_modules/.installed
	@$(BIN)/python -m stack compose-test

unit: $(BIN)/.installed
	@$(BIN)/pytest tests/unit -q

integration: up
	@$(BIN)/pytest tests/integration tests/e2e -q

## e2e: the end-to-end tests alone, against the running stack (CI runs them again after make test)
e2e: up
	@$(BIN)/pytest tests/e2e -q

lint: $(BIN)/.installed
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy
	@$(BIN)/lint-imports --no-cache --no-logo

format: $(BIN)/.installed
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

bench: up
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: down
	rm -rf $(STACK_HOME)
