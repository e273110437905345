# Quick start: `make demo` and `make test`. Both create .venv and install the package first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench clean

$(STAMP): setup.cfg pyproject.toml lstm_zoo/kernels/recurrence.cc
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	$(BIN)/python -m lstm_zoo.kernels.build
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lstm-zoo demo

test: $(STAMP)
	$(BIN)/ruff check lstm_zoo tests benchmarks examples
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile --durations=25

lint: $(STAMP)
	$(BIN)/ruff check lstm_zoo tests benchmarks examples
	$(BIN)/ruff format --check lstm_zoo tests benchmarks examples

format: $(STAMP)
	$(BIN)/ruff format lstm_zoo tests benchmarks examples
	$(BIN)/ruff check --fix lstm_zoo tests benchmarks examples

bench: $(STAMP)
	$(BIN)/python benchmarks/recurrent_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
