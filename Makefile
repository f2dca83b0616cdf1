# One command surface: make run, make test, make lint, make bench.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite runs once per database; PostgreSQL is the machine's local server.
TEST_PG ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres web-test lint bench eval web clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/adanalysis migrate
	ADANALYSIS_SANDBOX=true $(BIN)/adanalysis sandbox demo-user
	ADANALYSIS_SANDBOX=true $(BIN)/adanalysis serve --host $(HOST) --port $(PORT)

test: $(STAMP) web-test test-sqlite test-postgres

test-sqlite: $(STAMP)
	ADANALYSIS_TEST_DB=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	ADANALYSIS_TEST_DB=postgresql ADANALYSIS_TEST_PG=$(TEST_PG) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts eval
	$(BIN)/ruff format --check src tests bench scripts eval
	$(BIN)/mypy

# The locked Node packages. Not `npm ci`: Vite names an optional Windows-only package that the
# registry reachable here does not serve, so the lock file cannot list it and `npm ci` refuses
# the lock; `npm install --no-save` installs the locked versions and skips that package.
NPM_INSTALL := npm install --no-audit --no-fund --no-save

# The web app's component tests (Vitest in jsdom).
web-test:
	cd web && $(NPM_INSTALL) && npx vitest run

# The built web app is committed in src/adanalysis/static, so run and test need no Node.
web:
	cd web && $(NPM_INSTALL) && npm run build

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Insights accuracy on the labelled set (eval/insights); EVAL_ARGS="--split dev" while tuning rules.
eval: $(STAMP)
	$(BIN)/python bench/insights_eval.py $(EVAL_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
