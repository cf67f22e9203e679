# dlgrade developer targets. `make demo` grades the example submission and a small class; `make test` runs the tests.

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

# One notebook with grade submit, then a two-student class with grade batch into a SQLite
# gradebook (demo-out/gradebook.db), its export and its class report, and a grader account
# for the grading app (grade serve) on that class.
demo: venv
	$(VENV)/bin/grade submit assignments/backprop/examples/submission.ipynb --out demo-out
	rm -rf demo-out/class demo-out/gradebook.db* && mkdir -p demo-out/class
	cp assignments/backprop/examples/submission.ipynb demo-out/class/student1.ipynb
	cp assignments/backprop/solution.ipynb demo-out/class/student2.ipynb
	$(VENV)/bin/grade batch demo-out/class --assignment backprop --db sqlite:///demo-out/gradebook.db --out demo-out/batch
	$(VENV)/bin/grade export backprop --format csv --db sqlite:///demo-out/gradebook.db -o demo-out/grades.csv
	$(VENV)/bin/grade report backprop --db sqlite:///demo-out/gradebook.db -o demo-out/report.html
	$(VENV)/bin/grade graders add demo --role instructor --generate --db sqlite:///demo-out/gradebook.db
	@echo "Grade the written answers: $(VENV)/bin/grade serve --db sqlite:///demo-out/gradebook.db, open http://127.0.0.1:8765/ and sign in as demo with the password above (docs/manual-grading.md)"

# Two pytest-xdist workers (CI has 2 cores; most tests wait on subprocesses, Docker, kernels, a
# browser). tests/conftest.py keeps each module on one worker and hands out the slow ones first.
# TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: venv
	$(VENV)/bin/python -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder)

bench: venv
	$(VENV)/bin/python bench/check_speed.py

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf demo-out build dist .pytest_cache .ruff_cache
