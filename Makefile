# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
# Test processes (pytest-xdist): each starts its own providers and PostgreSQL, and gets whole
# files, so a file's module-scoped servers and browsers are shared by its tests.
TEST_WORKERS ?= auto
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install lint format bench bench-admin rp-wheel clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## run: migrate and seed the SQLite database, start the provider (:5000) and demo app (:5001)
run: install
	$(BIN)/idp demo

## test: install what the tests need (Python packages, chromium, postgresql) and run them all
test: install
	bash scripts/install-test-deps.sh
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: token endpoint throughput and CPU per request against gunicorn (not part of test)
bench: install
	$(BIN)/python bench/token_endpoint.py

## bench-admin: admin console search and audit page latencies, 1M users and events (not part of test)
bench-admin: install
	$(BIN)/python bench/admin_console.py

## rp-wheel: the idp-rp distribution (idp.rp alone, for resource servers) as a wheel in build/
rp-wheel: install
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir build ./idp-rp

clean:
	rm -rf $(VENV) .pytest_cache
