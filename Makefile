# Two commands for a fresh clone: `make demo` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= outputs/demo

.PHONY: demo test test-slow bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(BIN)/lengthgen-train +experiment=demo hydra.sweep.dir=$(DEMO_DIR)
	$(BIN)/lengthgen report $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(if $(QUICK),--quick,)
	$(if $(QUICK),,$(BIN)/python benchmarks/study.py)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
