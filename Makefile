# museforge: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.museforge-installed

.PHONY: setup system-deps demo test bench lint clean

setup: $(STAMP) system-deps

# The virtual environment, rebuilt when the package's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

system-deps:
	./scripts/system-deps.sh

demo: setup
	$(BIN)/museforge demo --out museforge-out

test: setup
	MUSEFORGE_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

clean:
	rm -rf $(VENV) museforge-out .pytest_cache .ruff_cache
