# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0
DATA_DIR := /usr/share/datasets/fashion-mnist
# When make started (expanded once, before set-up): the demo's 15 minutes count from here.
STARTED  := $(shell date +%s)

.PHONY: venv lint test test-all demo bench data clean

venv: $(STAMP)

# torch first, pinned, so that resolving the package's own `torch>=2.10` installs nothing more
# (an unpinned torch would pull gigabytes of CUDA wheels).
$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements/constraints.txt -e ".[all,dev]"
	touch $@

# Fashion-MNIST from Debian's package when we may install it; otherwise the loader looks in
# --data-dir, then a user cache, then downloads with checksum verification.
data:
	@if [ ! -f $(DATA_DIR)/train-images-idx3-ubyte.gz ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1) || \
		echo "note: could not install dataset-fashion-mnist; the loader will try its other sources"; \
	fi

# The rules are pyproject.toml's [tool.ruff]; the whole tree is linted and formatted.

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

# Everything, with the tests marked slow (the long SIGKILL-and-resume loop, on 1 and 2 threads).
test-all: lint
	$(BIN)/python -m pytest -q -m "slow or not slow"

demo: $(STAMP) data
	$(BIN)/python -m squeezenet.demo --started-at $(STARTED)

bench: $(STAMP) data
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
