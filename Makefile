# Two commands for a fresh clone: `make demo` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RAY_STAMP := $(VENV)/.installed-ray
DEMO_DIR ?= outputs/demo
STUDY ?= ruoss
VARIANT ?= quick
RESULTS ?= outputs/$(STUDY)/$(VARIANT)

.PHONY: demo study test test-slow lint docs bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The Ray launcher (optional extra `ray`) for the slow launcher tests; it holds cloudpickle < 3 and joblib < 1.6.
$(RAY_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,ray]'
	touch $(RAY_STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(BIN)/lengthgen-train --config-dir experiments/ruoss +study=demo hydra.sweep.dir=$(DEMO_DIR)
	$(BIN)/lengthgen report $(DEMO_DIR)

# A reproduction study from scratch: train its sweep, report, and check its claims (exit 1 on a FAIL).
study: $(STAMP)
	rm -rf $(RESULTS)
	$(BIN)/lengthgen-train --config-dir experiments/$(STUDY) +study=$(VARIANT) hydra.sweep.dir=$(RESULTS)
	$(BIN)/lengthgen report $(RESULTS)
	$(BIN)/lengthgen verdict experiments/$(STUDY)/claims.yaml $(RESULTS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Static checks CI runs: ruff, and the catalogue pages (docs/) against the registry.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lengthgen docs --check

# Regenerate docs/tasks.md and docs/positions.md after adding or changing a task or scheme.
docs: $(STAMP)
	$(BIN)/lengthgen docs

test-slow: $(STAMP) $(RAY_STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(if $(QUICK),--quick,)
	$(if $(QUICK),,$(BIN)/python benchmarks/study.py)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
