# Two commands do all the set-up on a fresh machine:
#   make demo   - install, then run the whole loop on the bundled tiny model + sample data
#   make test   - install, then run the default test suite
# Both install through requirements/lock.txt (the resolved set that passes the tests); `make lock` refreshes it.
#   make install-vllm / test-vllm - the vLLM backend's own environment (.venv-vllm, requirements/lock-vllm.txt)
#                                   and its tests (-m vllm); docs/vllm.md
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
LOCK := requirements/lock.txt
EXTRAS := dev,train,gen,lmms
# the "installed" stamp (.ci/run puts it inside its fresh environment)
STAMP ?= .installed

# the vLLM backend's separate environment (vLLM pins its own torch and transformers): scripts/install_vllm.sh
VLLM_VENV ?= .venv-vllm
VLLM_STAMP = $(VLLM_VENV)/.mg-vllm-installed

.PHONY: install demo test test-slow lint bench lock cpu-claim cpu-claim-te install-vllm test-vllm

install: $(STAMP)

# torch first (deepspeed's build looks for it), then the package and every extra, all through the lock
$(STAMP): pyproject.toml $(LOCK)
	$(PIP) install -q -c $(LOCK) torch torchvision
	$(PIP) install -q -c $(LOCK) -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PYTHON) -m mg_eval.cli.main demo

test: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PYTHON) -m pytest -q -p no:cacheprovider

install-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml requirements/lock-vllm.txt scripts/install_vllm.sh
	PYTHON=$(PYTHON) bash scripts/install_vllm.sh $(VLLM_VENV)

# the tests marked vllm, in that environment (tests/test_vllm_*.py: same answers as --backend mgm, serve, ...),
# then mg_model's own tests under that environment's transformers (5.19; the main lock has 5.24)
MODEL_TESTS = tests/test_model_*.py tests/test_processing.py tests/test_processing_e2e.py tests/test_fast_decode.py \
	tests/test_vision_chunks.py tests/test_prefix_sharing.py tests/test_continuous.py
test-vllm: install-vllm
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(VLLM_VENV)/bin/python -m pytest -q -p no:cacheprovider -m vllm -rs tests/test_vllm_*.py
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(VLLM_VENV)/bin/python -m pytest -q -p no:cacheprovider $(MODEL_TESTS)

test-slow: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PYTHON) -m pytest -q -m slow

lint: install
	$(PYTHON) -m ruff check .

# a fresh venv, a fresh resolve of the pyproject ranges, the default tests, then requirements/lock.txt
lock:
	PYTHON=$(PYTHON) bash scripts/refresh_lock.sh

bench: install
	$(PYTHON) bench/bench_engine.py
	$(PYTHON) bench/judge_throughput.py
	$(PYTHON) bench/bench_model_forward.py

# The CPU-scale test of the paper's central claim (results/cpu_claim/README.md): pretrain the tiny encoders, warm
# start the LLM, train the pre-registered rows for every seed (stage 1 + stage 2), evaluate, tabulate, regenerate
# the README section (9.5 min on 2 cores). `make cpu-claim-te` adds the token-extension row (seed 0, ~5 min more).
CPU_CLAIM = HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PYTHON) -m mg_eval.cli.main ablate ablations/cpu_info_mining.yaml \
	--train --batch-size 32 --output results/cpu_claim/ablation

cpu-claim: install
	$(CPU_CLAIM) --rows no_mining,mining
	$(PYTHON) scripts/cpu_claim/write_readme.py

cpu-claim-te: install
	$(CPU_CLAIM) --rows token_extension
	$(PYTHON) scripts/cpu_claim/write_readme.py
