# One entry point for people and CI. `make test` and `make demo` build or reuse .venv from the package registries.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
AIRFLOW_VERSION := 3.3.2
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test lint format demo sandbox bench chromium libmariadb clean compat compat-3.1 compat-3.2 compat-one

install: $(STAMP)

# Reinstall only when the dependency declarations change.
$(STAMP): pyproject.toml sandbox/pyproject.toml requirements.txt Makefile | libmariadb
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" -r requirements.txt \
	  -e ".[postgres,sqlite,duckdb,mysql,snowflake-emulator,dev]" \
	  -e ./sandbox
	@# A .venv from before the split: removing the old provider also removed the script it owned.
	@test -x $(BIN)/cekura-sandbox || $(BIN)/python -m pip install --quiet --no-deps --force-reinstall -e ./sandbox
	@touch $@

# mysqlclient (the MySQL extra) builds against the MariaDB client headers; installed when we may.
libmariadb:
	@pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmariadb-dev pkg-config >/dev/null) || \
	  echo "libmariadb-dev not installed: installing mysqlclient will fail (apt-get install libmariadb-dev pkg-config)"; }

# Headless Chromium (Debian) renders the HTML report in a test; installed when we may, else that test skips.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium not installed: the report rendering test will be skipped"; }

test: $(STAMP) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@out=$$($(BIN)/radon cc -n D -s plugins/cekura_livekit); if [ -n "$$out" ]; then echo "Cyclomatic complexity above 20 (radon cc -n D):"; echo "$$out"; exit 1; fi

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The README's main command: the whole flow end to end on the embedded default (sandbox + SQLite).
demo: $(STAMP)
	$(BIN)/python -m include.demo

sandbox: $(STAMP)
	$(BIN)/cekura-sandbox

# The eleven benchmarks (waiting, submitting, loading, trends, extract, parsing, report, nightly paths, detection, engines, webhooks); rewrites BENCHMARKS.md. A smoke size runs in `make test`.
bench: $(STAMP)
	$(BIN)/python -m bench

# The compatibility matrix (docs/compatibility.md), each pair in its own venv with the reduced test set (ci/compat.sh):
# the oldest supported pair (Airflow 3.1 + pandas 2.2) and the middle Airflow (3.2, latest patch) + pandas 3.0.
# The main suite covers the newest pair (Airflow 3.3 + pandas 3.1) in .venv. One pair by hand:
# `make compat-one COMPAT_VENV=.venv-compat-x COMPAT_AIRFLOW=3.2.0 COMPAT_PANDAS=2.3.*`.
COMPAT_VENV ?= .venv-compat
COMPAT_AIRFLOW ?= 3.1.8
COMPAT_PANDAS ?= 2.2.*
# The pair is in the stamp's name: changing COMPAT_AIRFLOW/COMPAT_PANDAS on an existing venv reinstalls it.
COMPAT_STAMP := $(COMPAT_VENV)/.installed-$(COMPAT_AIRFLOW)-$(subst *,x,$(COMPAT_PANDAS))

compat: compat-3.1 compat-3.2

compat-3.1:
	$(MAKE) --no-print-directory compat-one COMPAT_VENV=.venv-compat-3.1 COMPAT_AIRFLOW=3.1.8 'COMPAT_PANDAS=2.2.*'

compat-3.2:
	$(MAKE) --no-print-directory compat-one COMPAT_VENV=.venv-compat-3.2 COMPAT_AIRFLOW=3.2.2 'COMPAT_PANDAS=3.0.*'

$(COMPAT_STAMP): pyproject.toml sandbox/pyproject.toml Makefile
	@test -x $(COMPAT_VENV)/bin/python || $(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install --quiet --upgrade pip
	@# No -e of the provider: the job imports it from plugins/ (PYTHONPATH), so its own declared ranges are
	@# what pip resolves here, with Airflow and pandas held at the pair's versions.
	$(COMPAT_VENV)/bin/python -m pip install --quiet "apache-airflow==$(COMPAT_AIRFLOW)" "pandas==$(COMPAT_PANDAS)" \
	  "apache-airflow-providers-common-sql>=1.20" "apache-airflow-providers-sqlite>=4" \
	  "apache-airflow-providers-postgres>=6" "psycopg[binary]>=3.2" "httpx>=0.27,<1" "livekit-api>=1.0,<2" \
	  "pyyaml>=6" "pytest>=8" "pytest-asyncio>=0.24" "pytest-timeout>=2.3" "hypothesis>=6.100" -e ./sandbox
	@rm -f $(COMPAT_VENV)/.installed*
	@touch $@

compat-one: $(COMPAT_STAMP)
	COMPAT_VENV=$(COMPAT_VENV) bash ci/compat.sh

clean:
	rm -rf $(VENV) .venv-compat* .airflow-compat* .airflow* .demo artifacts .pytest_cache .mypy_cache .ruff_cache
