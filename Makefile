# Switchboard — `make help` lists the targets.
SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8000
# uv on PATH, or the copy `make` installs with pip on a machine that has only Python.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: help uv sync run test test-pg lint fmt typecheck bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# PEP 668 systems (Debian 12, Ubuntu 24.04) refuse a plain `pip install --user`; the
# second try still writes only to ~/.local, never to the system's packages.
uv: ## install uv with pip when it is missing
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
	  || python3 -m pip install --quiet --user uv \
	  || python3 -m pip install --quiet --user --break-system-packages uv

sync: uv ## install the locked dependencies into .venv
	$(UV) sync --frozen

run: sync ## migrate, create the first admin, serve on $(HOST):$(PORT)
	$(UV) run --no-sync python manage.py migrate --noinput --skip-checks  # serve checks once
	$(UV) run --no-sync python manage.py ensure_admin
	$(UV) run --no-sync python manage.py serve --host $(HOST) --port $(PORT)

test: sync ## run the whole suite (pytest exits non-zero when it ran no test)
	$(UV) run --no-sync pytest $(PYTEST_ARGS)

test-pg: ## the suite on the local PostgreSQL + Redis, as .ci/run does
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 $(MAKE) test

lint: sync ## ruff lint and format check
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

fmt: sync ## format and fix what ruff can
	$(UV) run --no-sync ruff format .
	$(UV) run --no-sync ruff check --fix .

typecheck: sync ## mypy with django-stubs
	$(UV) run --no-sync mypy config coordination lifecycle providers routing chat console documents usage redaction

bench: sync ## gateway benchmark: direct vs through Switchboard (PEERS=litellm to compare)
	$(UV) run --no-sync python -m bench $(if $(PEERS),--peers $(PEERS))

clean: ## remove caches (never DATA_DIR)
	rm -rf .pytest_cache .ruff_cache .mypy_cache staticfiles
