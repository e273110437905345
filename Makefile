# Quick start: `make demo` and `make test`. Both create .venv and install the package first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNEL := $(VENV)/.kernel-built

.PHONY: demo test lint format bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

# The native CPU kernel (lstm_zoo/kernels): built for this machine; where it cannot be built
# the command says why and the layers run the XLA loop.
$(KERNEL): $(STAMP) $(wildcard lstm_zoo/kernels/*.cc lstm_zoo/kernels/*.h) lstm_zoo/kernels/build.py
	$(BIN)/python -m lstm_zoo.kernels.build
	touch $(KERNEL)

demo: $(KERNEL)
	$(BIN)/lstm-zoo demo

test: $(KERNEL)
	$(BIN)/ruff check lstm_zoo tests benchmarks examples
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile --durations=25
	# the layer checks of the native-kernel cells once more on the XLA loop (the path of
	# jit_compile=True models, GPUs and TPUs; the run above takes the native kernel)
	LSTM_ZOO_KERNEL=xla $(BIN)/python -m pytest -q -n auto --maxprocesses 4 \
		tests/layers/test_recurrent.py \
		-k "zoo_lstm or peephole or coupled or zoo_gru or mut or layer_norm or clockwork or depth_gated or mogrifier"

lint: $(STAMP)
	$(BIN)/ruff check lstm_zoo tests benchmarks examples
	$(BIN)/ruff format --check lstm_zoo tests benchmarks examples

format: $(STAMP)
	$(BIN)/ruff format lstm_zoo tests benchmarks examples
	$(BIN)/ruff check --fix lstm_zoo tests benchmarks examples

bench: $(KERNEL)
	$(BIN)/python benchmarks/recurrent_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache lstm_zoo/kernels/_build
