# One entry point for people and CI. Every target installs what it needs into .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-browser test test-browser quickstart lab bench bench-browser lint clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

$(VENV)/.browser: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[dev,lab,browser]"
	touch $@

setup: $(VENV)/.installed

setup-browser: $(VENV)/.browser  ## JupyterLab and Playwright (the browser itself: apt-get install -y chromium)

test: setup  ## the whole test suite, offline, against servers on 127.0.0.1
	$(PY) -m pytest

test-browser: setup-browser  ## JupyterLab + headless Chromium: run the quickstart, submit from the ticket
	$(PY) -m pytest -m browser tests/browser

quickstart: setup  ## run notebooks/01_quickstart.ipynb against the local exchange, write HTML that shows its widgets offline
	$(PY) -m trading_kit.ui.export notebooks/01_quickstart.ipynb --output-dir build

lab: setup  ## JupyterLab on the notebooks, 127.0.0.1 only
	$(PY) -m pip install --quiet -e ".[lab]"
	$(PY) -m jupyter lab --ip 127.0.0.1 --ServerApp.root_dir=notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root)

bench: setup  ## benchmarks against alpaca-py's own path, same run
	$(PY) bench/bench_market_data.py
	$(PY) bench/bench_bulk_download.py
	$(PY) bench/bench_exchange.py
	$(PY) bench/bench_assets.py
	$(PY) bench/bench_tearsheet.py
	$(PY) bench/bench_exchange_load.py
	$(PY) bench/bench_exchange_data.py
	$(PY) bench/bench_chart.py
	$(PY) bench/bench_replay.py  # its anchor needs `pip install backtrader` (not a dependency)

bench-browser: setup-browser  ## the chart in JupyterLab + headless Chromium: time to visible, widget-state size
	$(PY) bench/bench_chart_browser.py

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build .pytest_cache
