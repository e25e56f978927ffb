# Two commands do all the set-up on a fresh machine:
#   make demo   - install, then run the whole loop on the bundled tiny model + sample data
#   make test   - install, then run the default test suite
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install demo test test-slow lint bench

install: .installed

.installed: pyproject.toml
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e ".[dev,train,gen,lmms]"
	touch .installed

demo: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PYTHON) -m mg_eval.cli.main demo

test: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PYTHON) -m pytest -q -p no:cacheprovider

test-slow: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PYTHON) -m pytest -q -m slow

lint: install
	$(PYTHON) -m ruff check .

bench: install
	$(PYTHON) bench/bench_engine.py
	$(PYTHON) bench/judge_throughput.py
	$(PYTHON) bench/bench_model_forward.py
