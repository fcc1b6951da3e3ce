# Emporium: `make run` serves the API on embedded defaults; `make test` runs every quality gate.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install run test test-fast lint format typecheck security migrations-check migrate \
        test-embedded makemigrations messages compilemessages bench services-install services-up services-down \
        clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.tools/bin/uv:
	python3 -m pip install --quiet --disable-pip-version-check --target .tools uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.synced ## Create .venv and install the locked dependencies

run: install ## Serve the API on http://127.0.0.1:8000 with a worker and the scheduler
	$(PY) manage.py bootstrap
	@# Without MONGODB_URI, the Procfile's `mongo` process serves SecantusDB on this address.
	export MONGODB_URI="$${MONGODB_URI:-mongodb://127.0.0.1:27117}" MONGODB_DB="$${MONGODB_DB:-emporium}"; \
		exec $(VENV)/bin/honcho start -f Procfile

migrate: install ## Apply migrations and create the cache table
	$(PY) manage.py migrate
	$(PY) manage.py createcachetable

makemigrations: install ## Create migrations for model changes
	EMPORIUM_ENV=test $(PY) manage.py makemigrations

lint: install ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## Format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install ## mypy with the Django and DRF plugins
	EMPORIUM_ENV=test $(VENV)/bin/mypy .

security: install ## bandit (no medium or high findings)
	$(VENV)/bin/bandit -q -c pyproject.toml -r emporium config --severity-level medium

migrations-check: install ## Fail if models changed without a migration
	EMPORIUM_ENV=test $(PY) manage.py makemigrations --check --dry-run

test: lint typecheck security migrations-check ## Every gate, then pytest with coverage (floor 85%)
	EMPORIUM_ENV=test $(VENV)/bin/pytest --cov --cov-report=term --cov-report=xml

test-embedded: install ## The SQL-dialect-sensitive suites on embedded SQLite (CI runs it after a services run)
	env -u DATABASE_URL -u REDIS_URL -u BROKER_URL -u EMPORIUM_REQUIRE_SERVICES \
		EMPORIUM_ENV=test VAR_DIR=var/test-embedded $(VENV)/bin/pytest -p no:cacheprovider \
		emporium/catalog emporium/search

test-fast: install ## pytest only, no coverage (pass ARGS="-k name" to pick tests)
	EMPORIUM_ENV=test $(VENV)/bin/pytest $(ARGS)

LANGS := de es
messages: install ## Extract translatable strings into locale/<lang>/LC_MESSAGES/django.po
	$(PY) manage.py makemessages $(addprefix -l ,$(LANGS)) --no-obsolete --ignore=.venv --ignore=.tools --ignore=var --ignore=tests --ignore='*/tests/*'

compilemessages: install ## Compile the catalogues (.mo files are committed)
	$(PY) manage.py compilemessages --ignore=.venv --ignore=.tools --ignore=var

BENCH_CSV_ROWS ?= 100000
bench: install ## Benchmarks (bench/README.md): HTTP endpoints, search, CSV import, cart, checkout
	$(PY) -u bench/run.py
	$(PY) -u bench/search.py
	$(PY) -u bench/csv_import.py --rows $(BENCH_CSV_ROWS)
	$(PY) -u bench/cart.py
	$(PY) -u bench/checkout.py

services-install: ## Install PostgreSQL, Redis and RabbitMQ with apt-get (root)
	scripts/services.sh install

services-up: ## Start PostgreSQL, Redis and RabbitMQ on 127.0.0.1 (prints the variables to export)
	scripts/services.sh up

services-down: ## Stop the local services
	scripts/services.sh down

clean: ## Remove the local environment and embedded data (var/)
	rm -rf $(VENV) .tools var .pytest_cache .mypy_cache .ruff_cache coverage.xml .coverage
