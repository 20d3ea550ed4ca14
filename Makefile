# The two commands:  make demo  (train the character-level LSTM, examples/char_lm.py)  and
# make test  (run the test suite).
# Each creates .venv with Python 3.11 when it is missing and installs what it needs into it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := PIP_DISABLE_PIP_VERSION_CHECK=1 $(PY) -m pip
# pytest-xdist workers: `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
# make fuzz: random graphs per fuzz test (a new seed each run; the CI slice is fixed)
FUZZ_EXAMPLES ?= 300

.PHONY: help demo demo-digits test fuzz lint bench docs clean

help:
	@echo "make demo   train a character-level LSTM on Alice in Wonderland (2-3 minutes)"
	@echo "make demo-digits  train an MLP on scikit-learn's digits, print its test accuracy"
	@echo "make test   run the test suite"
	@echo "make fuzz   differential fuzzing: FUZZ_EXAMPLES random graphs per test on every backend (FUZZ_SHRINK=1 to shrink failures)"
	@echo "make lint   ruff check"
	@echo "make bench  every benchmark (call overhead, scan, rewrites, conv/pool, jacobians, random loops): Markdown tables"
	@echo "make docs   build the manual (docs/*.md) as a website in docs/_build/html"
	@echo "make clean  remove .venv and caches"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamps re-run the install when pyproject.toml changes.
$(VENV)/.installed-examples: pyproject.toml | $(PY)
	$(PIP) install -q -e ".[examples]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install -q -e ".[dev]"
	touch $@

$(VENV)/.installed-docs: pyproject.toml | $(PY)
	$(PIP) install -q -e ".[docs]"
	touch $@

demo: $(VENV)/.installed-examples
	$(PY) examples/char_lm.py $(DEMO_ARGS)

demo-digits: $(VENV)/.installed-examples
	$(PY) examples/digits_mlp.py $(DEMO_ARGS)

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS)) $(PYTEST_ARGS)

fuzz: $(VENV)/.installed-dev
	THEANINE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(if $(FUZZ_SHRINK),THEANINE_FUZZ_SHRINK=1) \
		$(PY) -m pytest -q $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS)) tests/fuzz $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/call_overhead.py
	$(PY) benchmarks/scan_bench.py
	$(PY) benchmarks/rewrite_speed.py
	$(PY) benchmarks/conv_pool.py
	$(PY) benchmarks/conv_numba.py
	$(PY) benchmarks/jacobian_bench.py
	$(PY) benchmarks/random_scan.py

# -W: a warning (a broken link or cross-reference, a page in no toctree) is an error,
# as in the test suite (tests/test_docs.py).
docs: $(VENV)/.installed-docs
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "open docs/_build/html/index.html"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info docs/_build
