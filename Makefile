# dlgrade developer targets. `make demo` grades the example submission; `make test` runs the tests.

PYTHON ?= python3
VENV ?= .venv
# Written after a successful install; remade when pyproject.toml changes.
STAMP := $(VENV)/.dlgrade-installed

.PHONY: venv demo test bench lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(VENV)/bin/grade submit assignments/backprop/examples/submission.ipynb --out demo-out

test: venv
	$(VENV)/bin/python -m pytest -q

bench: venv
	$(VENV)/bin/python bench/check_speed.py

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf demo-out build dist .pytest_cache .ruff_cache
