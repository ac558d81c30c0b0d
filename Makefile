# Two commands matter: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# llama-cpp-python compiles from source; a native build dies with "Illegal instruction" here.
export CMAKE_ARGS := -DGGML_NATIVE=OFF
export FORCE_CMAKE := 1
# DSPy/LiteLLM must not try to download a price table (no internet).
export LITELLM_LOCAL_MODEL_COST_MAP := True

# examples/ is the dev-only distribution stacktune-examples: it registers the example tasks.
MEMBERS  := $(patsubst %/pyproject.toml,%,$(wildcard core/pyproject.toml conformance_tests/pyproject.toml adapters/*/pyproject.toml plugins/*/pyproject.toml examples/pyproject.toml))
SRC_DIRS := $(wildcard core/src conformance_tests/src adapters/*/src plugins/*/src)

# `sentiment` is registered by stacktune-examples; `toy` (the core's own) when examples/ is absent.
DEMO_TASK    ?= $(if $(wildcard examples/pyproject.toml),sentiment,toy)
DEMO_TRIALS  ?= 20
DEMO_REPORT  ?= demo-report.html

# The report's browser test drives Debian's chromium (never a downloaded browser build).
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup demo test lint typecheck unit integration benchmark browser clean

$(VENV)/.installed: pyproject.toml $(addsuffix /pyproject.toml,$(MEMBERS))
	@echo ">> setting up $(VENV) (the first run may compile llama.cpp: about 10 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet $(foreach m,$(MEMBERS),-e ./$(m)) --group dev
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/stacktune optimize $(DEMO_TASK) --trials $(DEMO_TRIALS) \
		--objective score --objective latency --study-name demo-$(DEMO_TASK) --storage sqlite:///demo.db --seed 0 --fresh
	$(VENV)/bin/stacktune report demo-$(DEMO_TASK) --storage sqlite:///demo.db -o $(DEMO_REPORT)

# chromium for the report's browser test only (core/tests/test_report_browser.py); as root, from Debian.
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo ">> installing chromium for the report's browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else echo ">> no $(CHROMIUM): the report's browser test is skipped (as root: make browser)"; fi

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy $(SRC_DIRS)

unit: setup
	$(PY) -m pytest -m "not integration"

integration: setup
	$(PY) -m pytest -m integration

test: lint typecheck browser
	$(PY) -m pytest

benchmark: setup
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/overhead_per_example.py
	$(PY) benchmarks/race_concurrency.py
	$(PY) benchmarks/pruners.py
	$(PY) benchmarks/compare.py --workers 2
	$(PY) benchmarks/compare.py --front score,tokens --seeds 40 --workers 2
	$(PY) benchmarks/compare.py --front score,latency --seeds 40 --workers 2
	$(PY) benchmarks/scale_out.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
