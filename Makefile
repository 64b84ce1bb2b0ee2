# certdesk — `make run` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
export CERTDESK_DATA_DIR ?= $(CURDIR)/var
export CERTDESK_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run init bytecode serve test test-latest lock lint bench bench-verify bench-acme bench-console bench-lifecycle deps test-deps system-deps assets screenshots clean

# Dependencies come from the hash-checked lock files in requirements/ (made by `make lock`),
# then certdesk itself without dependencies: every install gets the same releases.
$(BIN)/certdesk: pyproject.toml requirements/runtime.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements/runtime.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

deps: $(BIN)/certdesk

$(VENV)/.test-deps: pyproject.toml requirements/test.txt $(BIN)/certdesk
	$(BIN)/pip install -q --require-hashes -r requirements/test.txt
	touch $@

# Refresh the lock files after changing dependencies in pyproject.toml (uv resolves for every
# platform, Python 3.11 and newer, with hashes); commit requirements/ with the change.
lock: deps
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -q -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --python-version 3.11 --generate-hashes -q -o requirements/test.txt

# The whole suite on the newest releases pyproject.toml allows, not the lock: run it before
# `make lock` to see whether newer releases break anything (a separate virtualenv).
test-latest: system-deps assets
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/pip install -q --upgrade pip
	.venv-latest/bin/pip install -q --upgrade -e '.[test]'
	bash scripts/ensure-postgres.sh
	.venv-latest/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile

test-deps: $(VENV)/.test-deps

# The console's front-end packages from the npm registry (package.json): the California State
# Web Template, axe-core for the accessibility tests, and acme-client (Node.js's ACME library)
# as one more client of certdesk's ACME server in tests/acme. node_modules/ is never committed.
node_modules/.package-lock.json: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

assets: node_modules/.package-lock.json

# Debian packages the tests and benchmarks use (openssl CLI, cfssl, ab/wrk, Chromium for the
# console's browser tests: driven by Playwright at /usr/bin/chromium, never downloaded;
# systemd for systemd-analyze, which checks the units in deploy/; pebble as the vendor ACME CA
# and bind9 as the zone's DNS server for the vendor-CA tests in tests/ca/acme; sslscan beside
# certdesk verify in bench/verify.py; lego, dehydrated, uacme and caddy as ACME clients of
# certdesk's own server in tests/acme). Debian's caddy enables a caddy.service that would
# listen on ports 80 and 443: it is disabled and stopped right after installing.
SYSTEM_PKGS := openssl golang-cfssl apache2-utils wrk chromium systemd pebble bind9 sslscan lego dehydrated uacme caddy
system-deps:
	@missing=""; for p in $(SYSTEM_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  case " $$missing " in *" caddy "*) $$SUDO systemctl disable --now caddy.service >/dev/null 2>&1 || true ;; esac; \
	fi

# certdesk's own modules compiled once: an environment with PYTHONDONTWRITEBYTECODE set (as
# some containers are) otherwise recompiles them in every command, server and test process.
bytecode: deps
	$(BIN)/python -m compileall -q src tests >/dev/null

init: deps bytecode
	$(BIN)/certdesk init

run: init assets
	$(BIN)/certdesk serve --host $(HOST) --port $(PORT)

lint: test-deps
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/mypy bench

# Two pytest workers (pytest-xdist), a test file at a time each: the suite is CPU-bound on
# two cores, and module-scoped fixtures (a populated certdesk per test file) are built once.
PYTEST_WORKERS ?= 2
test: test-deps system-deps assets lint bytecode
	bash scripts/ensure-postgres.sh
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

# Screenshots of the console's main pages into docs/screenshots/ (shown in README.md).
screenshots: test-deps system-deps assets
	$(BIN)/python scripts/screenshots.py docs/screenshots

bench: test-deps system-deps
	bash scripts/ensure-postgres.sh
	$(BIN)/python bench/issuance.py
	$(BIN)/python bench/acme_server.py
	$(BIN)/python bench/notices.py
	$(BIN)/python bench/ct.py
	$(BIN)/python bench/verify.py --endpoints 300 --jobs 8
	$(BIN)/python bench/acme_vendor.py
	@echo "summary: bench/results/latest.json"

# The console's pages against the JSON API on the same data (SQLite, ~2,000 certificates):
# about three minutes; results in docs/performance.md.
bench-console: test-deps system-deps assets
	$(BIN)/python bench/console.py

# The lifecycle worker at 10k, 100k and 1M certificates (PostgreSQL; SQLite up to
# LIFECYCLE_SQLITE_MAX): tens of minutes, so not part of `make bench`.
LIFECYCLE_SIZES ?= 10000,100000,1000000
LIFECYCLE_SQLITE_MAX ?= 100000
bench-lifecycle: test-deps
	bash scripts/ensure-postgres.sh
	$(BIN)/python bench/lifecycle.py --sizes $(LIFECYCLE_SIZES) --sqlite-max $(LIFECYCLE_SQLITE_MAX)

# Endpoint verification (R14) against sslscan and an openssl s_client loop, on 300 TLS
# servers on loopback: about a minute; results in docs/performance.md.
bench-verify: test-deps system-deps
	$(BIN)/python bench/verify.py --endpoints 300 --jobs 8

# The vendor CA's ACME client (ca/acme) and certdesk's whole vendor path (issuance service →
# order drive → stored certificate) against certbot's acme library alone, all driving Debian's
# pebble on loopback; a few minutes; results in docs/performance.md and bench/results/latest.json.
bench-acme: test-deps system-deps
	$(BIN)/python bench/acme_vendor.py --orders 200 --rounds 2

clean:
	rm -rf $(VENV) .venv-latest var .pytest_cache .mypy_cache .ruff_cache .hypothesis
