# mtl-lessons: `make lab` opens the course, `make test` runs the whole suite.
# Both first create .venv (if needed) and install the pinned environment.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
LAB_EXTRA ?=
# Jupyter refuses to run as root unless told; containers and CI often are root
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: env lab test bench lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "mtl-lessons needs Python 3.11, found " + sys.version.split()[0]'
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[lab,test]"
	@touch $(STAMP)

env: $(STAMP)  ## create .venv and install the pinned environment

lab: env  ## open the course in JupyterLab on 127.0.0.1 (token authentication on)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) --ServerApp.root_dir="$(CURDIR)" $(ROOT_FLAG) $(LAB_EXTRA) \
		notebooks/00_welcome.ipynb

test: env  ## package tests and every notebook under nbval
	$(BIN)/python -m pytest -v --require-all-notebooks

bench: env  ## benchmark figures, one `name: value` per line
	$(BIN)/python -m mtl_lessons.bench

lock:  ## re-pin constraints.txt from the current .venv
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu$$//' > constraints.txt.new
	@printf '%s\n' "# Exact versions the course is tested with (pip install -c constraints.txt -e '.[lab,test]')." \
		"# Regenerate: make lock. torch is the CPU build where one is on disk; never leave it unpinned." \
		| cat - constraints.txt.new > constraints.txt && rm constraints.txt.new

clean:
	rm -rf $(VENV) *.egg-info
