# mtl-lessons: `make lab` opens the course, `make test` runs the whole suite.
# Both first create .venv (if needed) and install the pinned environment, saying what each step does.
# Without make (Windows, conda, uv, Colab): the README's "Without make" section runs the same steps.

# Supported: Python 3.11.5 to 3.14 (3.11.2-3.11.4 are too old for a pinned package). sys.hexversion
# keeps the check free of commas: 0x030B0500 is 3.11.5, 0x030F0000 is 3.15.0.
PY_OK := import sys; sys.exit(not 0x030B0500 <= sys.hexversion < 0x030F0000)
PY_CANDIDATES := python3 python3.13 python3.12 python3.14 python3.11 python
PYTHON ?= $(shell for p in $(PY_CANDIDATES); do \
	command -v $$p >/dev/null 2>&1 && $$p -c '$(PY_OK)' 2>/dev/null && { command -v $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/$(if $(filter Windows_NT,$(OS)),Scripts,bin)
STAMP  := $(VENV)/.installed
PORT   ?= 8888
LAB_EXTRA ?=
BENCH_ARGS ?=
# torch's CPU build, from PyTorch's CPU wheel index on Linux (PyPI's Linux torch is the ~2.7 GB CUDA
# build; on macOS and Windows PyPI's torch is the CPU build already). Opt out with `make TORCH_INDEX=`
# (a GPU, or torch installed another way). A matching wheel already on disk (pip's find-links) is used first.
TORCH_PIN   := $(shell grep -m1 '^torch==' constraints.txt)
TORCH_INDEX ?= $(if $(filter Linux,$(shell uname -s 2>/dev/null)),https://download.pytorch.org/whl/cpu)
PIP := $(BIN)/python -m pip
# Jupyter refuses to run as root unless told; containers and CI often are root
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

.PHONY: env lab test bench claims handout slides materials lock clean

$(STAMP): pyproject.toml constraints.txt
	@# the Python that will build .venv is one the course supports, checked before anything is installed
	@test -n "$(PYTHON)" || { echo "mtl-lessons needs Python 3.11.5 to 3.14, and none of $(PY_CANDIDATES) is one."; \
		echo "Install one (python.org, your package manager, pyenv), or name it: make PYTHON=/path/to/python3.13"; exit 1; }
	@$(PYTHON) -c '$(PY_OK)' || { echo "$(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'):" \
		"mtl-lessons needs 3.11.5 to 3.14. Install one, or name it: make PYTHON=/path/to/python3.13"; exit 1; }
	@# a .venv left by an unsupported (or since removed) Python is rebuilt, not kept failing
	@if [ -e $(VENV) ] && ! $(BIN)/python -c '$(PY_OK)' >/dev/null 2>&1; then \
		echo "==> $(VENV) was made with an unsupported or missing Python: removing it and rebuilding with $(PYTHON)"; \
		rm -rf $(VENV); fi
	@test -x $(BIN)/python || { echo "==> [1/4] creating $(VENV) with $(PYTHON) ($$($(PYTHON) -V))"; $(PYTHON) -m venv $(VENV); }
	@echo "==> [2/4] upgrading pip in $(VENV) ($$($(BIN)/python -V))"
	$(PIP) install --upgrade "pip>=24"
	@echo "==> [3/4] $(TORCH_PIN), CPU build"
	@if [ -z "$(TORCH_INDEX)" ]; then echo "    (no CPU index on this platform or TORCH_INDEX= given: torch comes with step 4)"; \
	elif $(PIP) install --no-index --no-deps -c constraints.txt "$(TORCH_PIN)" >/dev/null 2>&1; then \
		echo "    installed from a wheel already on this machine (pip's find-links), or already in $(VENV)"; \
	else echo "    from $(TORCH_INDEX) (about 190 MB)"; \
		$(PIP) install --no-deps --index-url $(TORCH_INDEX) -c constraints.txt "$(TORCH_PIN)" || { \
		echo "Could not install torch's CPU build from $(TORCH_INDEX). Check the network and run make again;"; \
		echo "or take torch from PyPI instead (on Linux the CUDA build, about 2.7 GB): make TORCH_INDEX= $(MAKECMDGOALS)"; exit 1; }; fi
	@echo "==> [4/4] the course and its pinned dependencies (constraints.txt)"
	$(PIP) install -c constraints.txt -e ".[lab,test]"
	@touch $(STAMP)
	@echo "==> $(VENV) is ready"

env: $(STAMP)  ## create .venv and install the pinned environment

lab: env  ## open the course in JupyterLab on 127.0.0.1 (token authentication on)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) --ServerApp.root_dir="$(CURDIR)" $(ROOT_FLAG) $(LAB_EXTRA) \
		notebooks/00_welcome.ipynb

test: env  ## package tests and every notebook under nbval, including the lock check (tests/test_lock.py)
	$(BIN)/python -m pytest -v --require-all-notebooks

bench: env  ## benchmark figures, one `name: value` per line (make bench BENCH_ARGS="--runs 3 --busy")
	$(BIN)/python tools/bench.py $(BENCH_ARGS)

CLAIMS_ARGS ?=
claims: env  ## every notebook over SEED = 0..19: each claim's mean, sd and worst against its threshold (~30 min)
	$(BIN)/python tools/claims_report.py $(CLAIMS_ARGS)

handout: env  ## build/handout: one self-contained HTML page per chapter, sliders without a kernel (npm fetches MathJax once)
	$(BIN)/python tools/handout.py --out build/handout

slides: env  ## build/slides: a reveal.js deck per chapter, offline, ## headings start slides, presenter style
	MTL_PRESENTER=1 $(BIN)/python tools/handout.py --slides --out build/slides

materials: env  ## build/handout and build/slides together, from one run of each notebook (two at a time)
	$(BIN)/python tools/handout.py --out build/handout --slides-out build/slides

lock:  ## re-pin constraints.txt from the current .venv
	$(PIP) freeze --all --exclude pip --exclude-editable | sed 's/+cpu$$//' > constraints.txt.new
	@printf '%s\n' "# Exact versions the course is tested with (pip install -c constraints.txt -e '.[lab,test]')." \
		"# Regenerate: make lock. torch is the CPU build where one is on disk; never leave it unpinned." \
		| cat - constraints.txt.new > constraints.txt && rm constraints.txt.new

clean:
	rm -rf $(VENV) *.egg-info build
