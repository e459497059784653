# The README's two commands: `make demo` and `make test`. Both set everything up, idempotently.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.losskit-installed
THREADS ?= 2
E ?= all

.PHONY: setup data demo test test-slow lint bench reproduce report clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 is a local CPU wheel (pyproject allows any torch>=2.1); pin it here so pip never
# resolves another torch.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,plot,lightning,tensorboard]' torch==2.13.0
	touch $(STAMP)

data:
	@scripts/ensure-data.sh

setup: $(STAMP) data

demo: setup
	$(BIN)/losskit train --data fashion-mnist --model lenet --loss ce --epochs 1 \
		--threads $(THREADS) --seed 0 --no-resume

test: setup
	$(BIN)/ruff check src tests
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest

test-slow: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check src tests

bench: setup
	$(BIN)/losskit bench all --threads $(THREADS) --out results/bench

reproduce: setup
	$(BIN)/losskit reproduce $(E) --jobs 2

report: setup
	$(BIN)/losskit report results/results.jsonl --out results/report --readme README.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
