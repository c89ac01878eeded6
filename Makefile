# Thông tin cơ sở (TTCS): the developer's and CI's entry points. `make help` lists them.
#
# Everything runs inside the project's .venv, made by uv from uv.lock. uv itself comes from
# scripts/bootstrap_uv.sh (PATH, else pip in .tools/venv, else the PyPI wheel): no sudo needed.

.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PORT ?= 8000
HOST ?= 127.0.0.1
PYTHON ?= python3
PYTEST_ARGS ?=

UV := $(CURDIR)/.tools/bin/uv
# The machine's own python3 makes the venv; uv must never fetch an interpreter of its own
# (offline and locked-down hosts cannot, and we want one Python per machine).
export UV_PYTHON_DOWNLOADS ?= never
# `make install` syncs once; every later command runs in that venv as it is (no implicit
# re-lock or re-sync half-way through a target).
RUN := $(UV) run --no-sync
MANAGE := $(RUN) python manage.py
# Settings are named explicitly: a DJANGO_SETTINGS_MODULE left in the shell must not leak in.
DEV := DJANGO_SETTINGS_MODULE=config.settings.dev
TEST := DJANGO_SETTINGS_MODULE=config.settings.test

.PHONY: help uv install demo test lint check bench messages clean distclean

help:
	@echo "make install    uv + locked dependencies (dev group included) + compiled translations"
	@echo "make demo       migrate, load units, demo accounts and bulletins, serve on http://$(HOST):$(PORT)"
	@echo "make test       pytest (extra arguments: PYTEST_ARGS='-k feedback -x')"
	@echo "make lint       ruff check, ruff format --check, mypy"
	@echo "make check      missing migrations, Django's deployment checks"
	@echo "make bench      every bench/bench_*.py script"
	@echo "make messages   extract UI strings into the gettext catalogs (docs/i18n.md)"
	@echo "make clean      caches and build output (keeps .venv and var/ttcs.sqlite3)"
	@echo "make distclean  clean + .venv, .tools and var/"

uv:
	@PYTHON=$(PYTHON) ./scripts/bootstrap_uv.sh >/dev/null

install: uv
	$(UV) sync --frozen --python $(PYTHON)
	$(MANAGE) compile_catalogs

# Every step is idempotent, so a second `make demo` reuses the database and accounts.
demo: install
	$(DEV) $(MANAGE) migrate --noinput
	$(DEV) $(MANAGE) load_units
	$(DEV) $(MANAGE) load_demo
	$(DEV) $(MANAGE) collectstatic --noinput
	$(DEV) HOST=$(HOST) PORT=$(PORT) $(RUN) python scripts/serve.py

# Browser tests drive Debian's /usr/bin/chromium (Playwright cannot download its own browser
# offline); they skip when it is missing.
test: install
	@test -x /usr/bin/chromium || echo "note: /usr/bin/chromium missing, browser tests will skip (apt-get install chromium)"
	$(TEST) $(RUN) pytest $(PYTEST_ARGS)

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy .

# The deployment check runs the real production settings with a throwaway key, so a setting
# that would be insecure on a province's server fails here first.
check: install
	$(UV) lock --check
	$(TEST) $(MANAGE) makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=config.settings.production \
	  SECRET_KEY="$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  ALLOWED_HOSTS=ttcs.example.gov.vn \
	  $(MANAGE) check --deploy --fail-level WARNING

# Extract new UI strings into locale/*/django.po (needs GNU gettext: apt-get install gettext),
# then translate the vi entries and run scripts/check_catalogs.py (docs/i18n.md).
messages: install
	$(DEV) $(MANAGE) makemessages -l vi -l en --ignore=.venv --ignore=.tools --ignore=var \
	  --ignore='*/tests/*' --ignore=conftest.py
	$(RUN) python scripts/check_catalogs.py || true

bench: install
	@shopt -s nullglob; scripts=(bench/bench_*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "No benchmarks yet (bench/ has no bench_*.py scripts; see bench/README.md)."; fi; \
	for f in "$${scripts[@]}"; do echo "== $$f"; $(RUN) python "$$f"; done

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache test-results var/static var/test*.sqlite3*
	find . \( -path ./.venv -o -path ./.tools -o -path ./.git \) -prune -o \
	  \( -name __pycache__ -o -name '*.mo' \) -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf .venv .tools var
