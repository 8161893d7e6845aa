# The WLZ outcomes pipeline. Two commands on a fresh machine:
#   make run    create .venv from the lock file and run the whole pipeline on data/sample/
#   make test   run the test suite
# Needs only Python 3.11 with pip and venv (PYTHON may point elsewhere).

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.8
# Where `make run` / `make dev` keep the warehouse and Dagster's instance.
WLZ_HOME ?= $(CURDIR)/.wlz
export DAGSTER_HOME ?= $(WLZ_HOME)/dagster

.PHONY: install run test dev lint format lock clean generate-sample chromium docs bench

install: $(VENV)/.installed

# The venv is made afresh from the lock whenever it or the project metadata change:
# requirements.lock pins every package, with its hashes (pip refuses a file whose hash is
# not in it, and --no-deps installs nothing it does not list), so a fresh machine installs
# exactly what was tested. It is uv.lock exported for pip (make lock); the project itself is
# then installed editable, built by the locked setuptools. `uv lock --check` (uv is locked
# too) refuses a pyproject.toml changed without `make lock`. pip writes every package's .pyc
# at install: where PYTHONDONTWRITEBYTECODE is set (CI machines, containers) Python never
# writes them, and every process (a run, its GX worker, each test's) would compile dagster,
# GX and pandas from source again, about 11 s a process on our 2-core machine.
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
$(VENV)/.installed: requirements.lock pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes --no-deps -r requirements.lock
	$(PIP) install --no-deps --no-build-isolation --editable .
	$(BIN)/uv lock --check --offline --python 3.11
	touch $@

# The instance settings (one run at a time: one writer on the DuckDB file) are copied
# into DAGSTER_HOME once; a dagster.yaml already there (a deployment's own) is left alone.
# The instance's storage is created here, before anything starts: a webserver and a daemon
# starting together on a fresh DAGSTER_HOME would both create it, and one would fail.
$(DAGSTER_HOME)/dagster.yaml: config/dagster.yaml | install
	mkdir -p $(DAGSTER_HOME)
	test -e $@ || cp $< $@
	$(BIN)/dagster instance migrate > /dev/null

run: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/wlz run --data-dir data/sample --warehouse $(WLZ_HOME)/warehouse/wlz.duckdb

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file to each at a time
# (--dist loadfile: a file's module fixtures are made once); TEST_WORKERS=0 runs it in
# this process (a single test: make test TEST_WORKERS=0 PYTEST_ARGS=tests/test_x.py).
TEST_WORKERS ?= 2
test: install chromium
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The HTML report tests open the pages in Debian's chromium through Playwright (never a
# browser download: do not run `playwright install`). Installed with apt when missing
# (CI runs as root; elsewhere run it with sudo once).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ -x $(CHROMIUM) ]; then echo "chromium: $(CHROMIUM)"; else \
		apt-get update && apt-get install -y --no-install-recommends chromium; fi

dev: install $(DAGSTER_HOME)/dagster.yaml
	WLZ_DATA_DIR=$${WLZ_DATA_DIR:-$(CURDIR)/data/sample} \
	WLZ_WAREHOUSE=$${WLZ_WAREHOUSE:-$(WLZ_HOME)/warehouse/wlz.duckdb} \
	$(BIN)/dagster dev -w workspace.yaml

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve uv.lock after changing dependencies in pyproject.toml (versions already
# locked are kept where they still fit; `uv lock --upgrade-package P` moves one on).
# pylock.toml is the same lock in the standard format (PEP 751) for tools other than
# uv, and requirements.lock the same pins with hashes for plain pip
# (`pip install --require-hashes -r requirements.lock`); tests/test_lock.py fails when
# either is not what uv.lock exports.
lock:
	test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv==$(UV_VERSION); }
	$(BIN)/uv lock --python 3.11
	$(BIN)/uv export --quiet --format pylock.toml --locked --extra dev --no-header -o pylock.toml
	$(BIN)/uv export --quiet --format requirements-txt --locked --extra dev --no-header \
		--no-emit-project -o requirements.lock

# The zone-scale benchmark of performance.md (not run by CI): writes a JSON report.
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--data-dir /data/zone --skip-sample".
bench: install
	$(BIN)/wlz bench $(BENCH_ARGS)

# Rewrite docs/data_dictionary.md from the sample's publication (a test keeps it true).
docs: run
	$(BIN)/wlz dictionary --warehouse $(WLZ_HOME)/warehouse/wlz.duckdb --out docs/data_dictionary.md

# Rewrite the committed synthetic sample (deterministic: same seed, same bytes).
generate-sample: install
	$(BIN)/wlz generate --scale sample --seed 20170901 --out data/sample --overwrite

clean:
	rm -rf $(VENV) $(WLZ_HOME) .pytest_cache
