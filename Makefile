# bnnbench: `make run` installs what is needed and runs the main job; `make test` the fast suite.
PY ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: install run test test-slow bench bench-kernel lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -c constraints.txt -e ".[test,wandb]"
	$(PYTHON) -m bnnbench.kernels.cpu  # compiles the CPU popcount kernels once (torch reference without a compiler)
	touch $(STAMP)

run: install  ## the default job: BiDense (DAB + CFB) on the generated segmentation set
	$(PYTHON) -m bnnbench $(ARGS)

test: install  ## the fast suite (CI)
	$(PYTHON) -m pytest -q $(ARGS)

test-slow: install  ## the longer training runs
	$(PYTHON) -m pytest -q -m slow $(ARGS)

bench: install  ## training-step time and peak memory of each binarizer relative to fp
	$(PYTHON) experiments/bench/train_step.py $(ARGS)

bench-kernel: install  ## packed binary conv vs fp32 on this CPU (per layer, whole models); vs cuDNN where a GPU is
	$(PYTHON) experiments/kernels/bench_cpu.py $(ARGS)
	$(PYTHON) experiments/kernels/bench_kernels.py

lint: install
	$(PYTHON) -m ruff check bnnbench tests experiments

clean:
	rm -rf outputs multirun .pytest_cache
