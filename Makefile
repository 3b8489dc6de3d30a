# The two commands of the README: `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := run

# Django 6 needs Python 3.12; the only CPU torch wheel here is for 3.11 (the engine's).
find_python = $(firstword $(foreach c,$(wildcard $(HOME)/.pyenv/versions/$(1)*/bin/python$(1)) $(shell command -v python$(1) 2>/dev/null),$(shell $(c) -c 'import sys; print(sys.executable)' 2>/dev/null)))
PY312 ?= $(call find_python,3.12)
PY311 ?= $(call find_python,3.11)
VENV := .venv
ENGINE := .venv-engine
PY := $(VENV)/bin/python

$(VENV)/.installed: requirements/base.txt requirements/worker.txt requirements/test.txt
	@test -n "$(PY312)" || { echo "Python 3.12 is needed (Django 6)"; exit 1; }
	test -x $(PY) || $(PY312) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/test.txt
	touch $@

$(ENGINE)/.installed: requirements/engine-cpu.txt
	@test -n "$(PY311)" || { echo "Python 3.11 is needed for the CPU engine (torch 2.13.0 CPU wheel)"; exit 1; }
	test -x $(ENGINE)/bin/python || $(PY311) -m venv $(ENGINE)
	$(ENGINE)/bin/python -m pip install -q --disable-pip-version-check -r requirements/engine-cpu.txt
	touch $@

# Headless Chromium from Debian for the browser tests (never a downloaded browser).
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# Debian's docker-compose (1.29): tests/test_compose_config.py resolves docker-compose.yml with
# `docker-compose config`, a real compose parser that needs no Docker daemon.
/usr/bin/docker-compose:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose

# axe-core from npm, for the accessibility checks of the browser tests (never a CDN).
AXE := var/node_modules/axe-core/axe.min.js
$(AXE):
	mkdir -p var
	npm install --silent --no-audit --no-fund --prefix var axe-core@4.14.1

.PHONY: install run test db messages clean
install: $(VENV)/.installed $(ENGINE)/.installed

db: install
	mkdir -p var
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py load_catalogue

run: db
	$(PY) manage.py run_arena

test: install /usr/bin/chromium /usr/bin/docker-compose $(AXE)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

messages: install
	$(PY) manage.py makemessages -l fr -l en --ignore=.venv* --ignore=var
	$(PY) manage.py compilemessages --ignore=.venv*

clean:
	rm -rf var/db.sqlite3 var/static var/test-logs
