# One entry point for people and CI. Every target installs what it needs into .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test quickstart lab bench lint clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

test: setup  ## the whole test suite, offline, against servers on 127.0.0.1
	$(PY) -m pytest

quickstart: setup  ## run notebooks/01_quickstart.ipynb against the local exchange, write HTML
	mkdir -p build
	$(PY) -m jupyter nbconvert --to html --execute notebooks/01_quickstart.ipynb --output-dir build
	@echo "Executed quickstart: $(CURDIR)/build/01_quickstart.html"

lab: setup  ## JupyterLab on the notebooks
	$(PY) -m pip install --quiet -e ".[lab]"
	$(PY) -m jupyter lab --ip 127.0.0.1 --notebook-dir notebooks

bench: setup  ## benchmarks against alpaca-py's own path, same run
	$(PY) bench/bench_market_data.py
	$(PY) bench/bench_exchange.py

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build .pytest_cache
