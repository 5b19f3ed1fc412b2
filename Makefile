# AudienceLab: `make run` opens the app on the demo store, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
PORT ?= 8501

.PHONY: install run test check bench lock clean

# Installs exactly the versions of requirements.lock (every package, dependencies included).
$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: install
	$(PY) -m pytest

check: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy analytics models

bench: install
	$(PY) bench/run_all.py

# After changing requirements.txt or requirements-dev.txt: resolve them afresh into the lock file.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	.lockenv/bin/python -m pip freeze --all --exclude pip --exclude setuptools --exclude wheel \
		| sed 's/+cpu$$//' > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
