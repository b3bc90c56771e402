# Two commands on a fresh clone: `make demo` and `make test`. Everything else is plumbing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := cli,aws,redis,demo,test

.PHONY: demo test lint typecheck unit system-deps bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "bellwatch needs Python 3.11+ (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	@touch $@

demo: $(STAMP)
	$(BIN)/python -m bellwatch.demo

system-deps:
	@bash scripts/ensure-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) system-deps
	$(BIN)/pytest

test: lint typecheck unit

# Every benchmark (under 20 minutes on 2 cores, progress on stderr), then bench/RESULTS.md and
# the README's figures; `$(BIN)/python bench/run_all.py --quick` is the few-rounds version.
bench: $(STAMP)
	@bash bench/ensure-deps.sh
	$(BIN)/pip install -q -e '.[$(EXTRAS),bench]'
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache logs
