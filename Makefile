# The course in two commands: `make lab` (open the notebooks) and `make test`.
# Everything goes into .venv/ with plain Python 3.10+ and pip: no conda, apt or sudo.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.course-installed
# The CPU build of PyTorch the course is developed and tested with. An unpinned
# `torch` pulls a multi-GB CUDA build on Linux. Extra pip flags: TORCH_PIP_ARGS=...
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PORT ?= 8888
NBVAL := -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-cell-timeout=1200
export SDL_VIDEODRIVER ?= dummy
export SDL_AUDIODRIVER ?= dummy

.PHONY: install lab test unit notebooks student student-test grading nbgrader-metadata lint checkpoints e2e bench clean

install: $(STAMP)

$(STAMP): pyproject.toml jupyter/overrides.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed, found " + sys.version.split()[0] + ". Fix: make PYTHON=python3.11 ...")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev,instructor,studies]"
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	cp jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $(STAMP)
	@echo "Course installed in $(VENV)."

# Opens JupyterLab on notebooks/. With no display, no browser is started: open the
# printed http://127.0.0.1:$(PORT)/lab?token=... address yourself.
lab: install
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks --port=$(PORT) \
		$(if $(DISPLAY)$(filter Darwin,$(shell uname -s)),,--no-browser) \
		$(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

# Unit tests, then every notebook and every student copy executed in fast mode, then
# the nbgrader proof (every notebook autograded three times: 4-8 minutes on 2 cores).
test: install lint unit notebooks student-test grading

unit: install
	COURSE_FAST=1 $(PY) -m pytest -q -m "not grading" tests

# A throwaway nbgrader course: generate, autograde solved/untouched/wrong, export CSV.
grading: install
	COURSE_FAST=1 $(PY) -m pytest -q -m grading tests

# Re-derive the notebooks' nbgrader cell metadata after editing them.
nbgrader-metadata: install
	$(PY) -m course_utils.lessons.nbgrader_metadata

notebooks: install
	COURSE_FAST=1 $(PY) -m pytest -q $(NBVAL) notebooks

student: install
	$(PY) -m course_utils.lessons.student notebooks build/student

student-test: student
	COURSE_FAST=1 $(PY) -m pytest -q $(NBVAL) build/student

lint: install
	$(VENV)/bin/ruff check course_utils tests benchmarks tools
	$(VENV)/bin/ruff format --check course_utils tests benchmarks tools

# Regenerates every shipped agent with the course's own trainer (slow: see README).
# Refuses to overwrite data/checkpoints unless OVERWRITE=1.
checkpoints: install
	$(PY) -m course_utils.train mountaincar --out data/checkpoints/mountaincar_dqn.pt $(if $(OVERWRITE),--overwrite,)
	$(PY) -m course_utils.train spaceinvaders --seed 0 --test-episodes 100 --test-seed 3000000 --max-minutes 105 --quiet --out data/checkpoints/spaceinvaders_ram_dqn.pt $(if $(OVERWRITE),--overwrite,)
	$(PY) -m course_utils.train bipedalwalker --seed 0 --episodes 4000 --max-minutes 60 --quiet --out data/checkpoints/bipedalwalker_selective_memory.pt $(if $(OVERWRITE),--overwrite,)
	$(PY) -m course_utils.train snake --seed 0 --max-minutes 30 --quiet --out data/checkpoints/snake_dqn.pt $(if $(OVERWRITE),--overwrite,)

# The browser test: every notebook and student copy, Run All in headless Chromium.
e2e: install student
	COURSE_FAST=1 $(PY) -m pytest -q --e2e -m e2e tests/e2e $(E2E_ARGS)

clean:
	rm -rf build
