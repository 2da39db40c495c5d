# Every target creates .venv on first use, so a fresh clone needs only `make run`
# or `make test`.
PORT ?= 8000
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test test-fast test-worker test-e2e screenshots bench lint format clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

RUN_INSTALLED := $(VENV)/.installed-run

# `make run` installs only what running needs, and says so, since a first
# install takes a minute; `make test` adds the test tools on top.
$(RUN_INSTALLED): requirements/base.txt requirements/run.txt
	@echo "Installing what make run needs into $(VENV)/ (first time only, about a minute)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar off -r requirements/run.txt
	touch $@

$(INSTALLED): $(RUN_INSTALLED) requirements/prod.txt requirements/dev.txt
	@echo "Installing the test and lint tools into $(VENV)/ (first time only)..."
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@

run: $(RUN_INSTALLED) ## Run web, worker and beat on SQLite (PORT=8000; REDIS_URL for Redis)
	DEBUG=$${DEBUG:-True} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-True} $(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  App:      http://127.0.0.1:$(PORT)/"
	@echo "  Mailbox:  http://127.0.0.1:$(PORT)/mailbox/"
	@echo "  Admin:    http://127.0.0.1:$(PORT)/admin/"
	@echo "  Broker:   $${REDIS_URL:-filesystem (var/broker)}"
	@echo "  Log in with one of the demo logins above. Stop with Ctrl-C."
	@echo ""
	DEBUG=$${DEBUG:-True} SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} \
		PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho start -p $(PORT)

test: $(INSTALLED) lint ## Run everything: checks, fast tests, worker tests, browser tests
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python manage.py makemigrations --check --dry-run jobkit
	$(BIN)/pytest -n auto --dist loadfile

test-fast: $(INSTALLED) ## Only the fast tests (no worker, no browser)
	$(BIN)/pytest -m "not worker and not e2e"

test-worker: $(INSTALLED) ## Only the tests with a real redis-server and celery worker
	$(BIN)/pytest -m worker

test-e2e: $(INSTALLED) ## Only the browser tests (Chromium)
	$(BIN)/pytest -m e2e

screenshots: $(INSTALLED) ## Refresh docs/screenshots/ from the browser tests
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest -m e2e

bench: $(INSTALLED) ## Measure our Celery setup and job kit against bare ones; writes var/bench.json
	$(BIN)/python -m bench

lint: $(INSTALLED) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED) ## Format and autofix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtualenv and runtime state (var/)
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
