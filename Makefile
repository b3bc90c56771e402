# Two commands on a fresh clone: `make demo` and `make test`. Everything else is plumbing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# What each target installs: the demo needs only the service and the CLI; the checks need
# everything. A stamp per set, each newer than pyproject.toml once installed; the full set
# includes the demo's, so installing it stamps both, and `make demo` after `make test`
# installs nothing, while `make test` after `make demo` adds the rest.
DEMO_EXTRAS := cli,demo
ALL_EXTRAS  := cli,aws,redis,demo,test
DEMO_STAMP  := $(VENV)/.installed-demo
ALL_STAMP   := $(VENV)/.installed-all
BENCH_STAMP := $(VENV)/.installed-bench
INSTALL     = @$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "bellwatch needs Python 3.11+ (found $$($(PYTHON) --version))"; exit 1; }; \
	$(PYTHON) scripts/install.py --venv $(VENV) --extras

.PHONY: demo shell test lint typecheck unit system-deps bench clean

# The C scanner (src/bellwatch/sources/_scan.c) is built into src/ by the editable install:
# a change to it reinstalls, so tests never run an old build.
SCANNER     := $(wildcard src/bellwatch/sources/_scan.c src/bellwatch/sources/_scan_*.h)

$(DEMO_STAMP): pyproject.toml $(SCANNER)
	$(INSTALL) $(DEMO_EXTRAS)
	@touch $@

$(ALL_STAMP): pyproject.toml $(SCANNER)
	$(INSTALL) $(ALL_EXTRAS)
	@touch $@ $(DEMO_STAMP)

$(BENCH_STAMP): $(ALL_STAMP)
	$(INSTALL) $(ALL_EXTRAS),bench
	@touch $@

demo: $(DEMO_STAMP)
	$(BIN)/python -m bellwatch.demo

# A shell with .venv activated: `bellwatch ...` as the README types it. `exit` leaves it.
# bash reads ~/.bashrc before activating (it may put pyenv's folders first on PATH); other
# shells get .venv/bin first on PATH from the environment.
shell: $(DEMO_STAMP)
	@echo "bellwatch is on PATH in this shell ($(VENV) activated); exit to leave"
	@case "$${SHELL:-/bin/sh}" in \
		*/bash) exec "$$SHELL" --rcfile scripts/shellrc.bash -i ;; \
		*) VIRTUAL_ENV="$(abspath $(VENV))" PATH="$(abspath $(BIN)):$$PATH" \
			exec "$${SHELL:-/bin/sh}" -i ;; \
	esac

system-deps:
	@bash scripts/ensure-system-deps.sh

lint: $(ALL_STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports

typecheck: $(ALL_STAMP)
	$(BIN)/mypy

unit: $(ALL_STAMP) system-deps
	$(BIN)/pytest

test: lint typecheck unit

# Every benchmark (under 20 minutes on 2 cores, progress on stderr), then bench/RESULTS.md and
# the README's figures; `$(BIN)/python bench/run_all.py --quick` is the few-rounds version.
bench: $(BENCH_STAMP)
	@bash bench/ensure-deps.sh
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache logs build dist src/bellwatch/sources/*.so
