# The course in two commands: `make lab` (open the notebooks) and `make test`.
# Everything goes into .venv/ with plain Python 3.10+ and pip: no conda, apt or sudo.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
JUPYTER := $(VENV)/bin/jupyter
# The CPU build of PyTorch the course is developed and tested with. On Linux pip's
# default index holds the CUDA build (with triton and 18 nvidia-*/cuda-* packages,
# several GB), so on Linux the torch line adds PyTorch's CPU wheel index, as PyTorch's
# install page documents for CPU-only Linux installs; macOS and Windows wheels are CPU
# builds already. `make install GPU=1` (on a fresh .venv) keeps pip's default build.
# --no-deps: only torch itself is looked up there (where that index cannot be reached,
# pip warns and takes torch from its other sources); its dependencies come with the
# course's. Other pip flags for torch: TORCH_PIP_ARGS=...
TORCH_SPEC ?= torch==2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX ?= $(if $(GPU),,$(if $(filter Linux,$(shell uname -s)),$(TORCH_CPU_INDEX)))
TORCH_PIP_ARGS ?=
PORT ?= 8888
NBVAL := -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-cell-timeout=1200
export SDL_VIDEODRIVER ?= dummy
export SDL_AUDIODRIVER ?= dummy

# Stamps: what is installed in $(VENV). A student's install is the course and the lab;
# the instructor's adds nbgrader; the contributor's (make test) adds the test tools.
TORCH_STAMP := $(VENV)/.course-torch
STAMP := $(VENV)/.course-installed
INSTRUCTOR_STAMP := $(VENV)/.course-instructor
DEV_STAMP := $(VENV)/.course-dev
# nbgrader's JupyterLab menus and server extensions, off for students (make test
# installs nbgrader for its grading proof) and on after make instructor.
NBGRADER_SERVER := formgrader validate_assignment assignment_list course_list
# $(1) disable/enable, $(2) lock/unlock; nothing to do where nbgrader is not installed.
# $(3): a further shell condition.
define nbgrader_tools
@if $(PY) -c 'import nbgrader' 2>/dev/null $(3); then \
		$(JUPYTER) labextension $(1) --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1 && \
		$(JUPYTER) labextension $(2) --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1 && \
		for e in $(NBGRADER_SERVER); do \
			$(JUPYTER) server extension $(1) --sys-prefix nbgrader.server_extensions.$$e \
				>/dev/null 2>&1 || exit 1; \
		done && echo "nbgrader's JupyterLab tools: $(1)d."; \
	fi
endef
# Off, unless make instructor switched them on.
NBGRADER_OFF = $(call nbgrader_tools,disable,lock,&& test ! -f $(INSTRUCTOR_STAMP))

.PHONY: install instructor dev lab test unit colab notebooks student student-test grading nbgrader-metadata lint checkpoints e2e book book-fast book-check bench clean

# A student's install: the course's runtime packages and JupyterLab. No nbgrader.
install: $(STAMP)

$(TORCH_STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed, found " + sys.version.split()[0] + ". Fix: make PYTHON=python3.11 ...")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-deps $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	@touch $@

$(STAMP): $(TORCH_STAMP) pyproject.toml jupyter/overrides.json
	$(PY) -m pip install --quiet -e ".[lab]"
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	cp jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(NBGRADER_OFF)
	@touch $@
	@echo "Course installed in $(VENV)."

# An instructor's install: adds nbgrader and its JupyterLab tools (INSTRUCTORS.md).
instructor: $(INSTRUCTOR_STAMP)

$(INSTRUCTOR_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[lab,instructor]"
	$(call nbgrader_tools,enable,unlock)
	@touch $@

# What make test needs: the test tools, nbgrader for the grading proof, ruff and
# Playwright, the studies' engine (joblib, Dask) for its cluster test. nbgrader's
# JupyterLab tools stay off unless make instructor ran.
dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[lab,test,instructor,dev,studies,book]"
	$(NBGRADER_OFF)
	@touch $@

# Opens JupyterLab on notebooks/. With no display, no browser is started: open the
# printed http://127.0.0.1:$(PORT)/lab?token=... address yourself.
lab: install
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks --port=$(PORT) \
		$(if $(DISPLAY)$(filter Darwin,$(shell uname -s)),,--no-browser) \
		$(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

# Unit tests, the simulated Colab install, then every notebook and every student copy
# executed in fast mode, then the nbgrader proof (every notebook autograded for five
# students: 5-10 minutes on 2 cores).
test: dev lint unit colab notebooks student-test grading

unit: dev
	COURSE_FAST=1 $(PY) -m pytest -q -m "not grading and not colab" tests

# A fresh virtual environment set up like Colab's (IPython 7.34, ipykernel 5.5.6, no
# course folder) runs the notebooks' setup cell against a local clone (1-3 minutes).
colab: dev
	$(PY) -m pytest -q -m colab tests

# A throwaway nbgrader course: generate, autograde five students, export, report.
grading: dev
	COURSE_FAST=1 $(PY) -m pytest -q -s -m grading tests

# Re-derive the notebooks' nbgrader cell metadata after editing them.
nbgrader-metadata: install
	$(PY) -m course_utils.lessons.nbgrader_metadata

notebooks: dev
	COURSE_FAST=1 $(PY) -m pytest -q $(NBVAL) notebooks

# Student copies (nbformat comes with JupyterLab: no nbgrader needed).
student: install
	$(PY) -m course_utils.lessons.student notebooks build/student $(if $(OVERWRITE),--overwrite,) $(if $(GRADED),--graded,)

student-test: dev student
	COURSE_FAST=1 $(PY) -m pytest -q $(NBVAL) build/student

lint: dev
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
e2e: dev student
	COURSE_FAST=1 $(PY) -m pytest -q --e2e -m "e2e and not site" tests/e2e $(E2E_ARGS)

# The course as a website in build/book/html/: every notebook executed in full mode
# (about 35 CPU minutes, two notebooks at a time; a cache in build/book/cache/ re-runs only notebooks
# whose cells, course_utils/ or data/ changed), rendered by Jupyter Book.
book: dev
	$(PY) tools/book.py --jobs 2

# The same site in fast mode (a few minutes; its scores mean nothing), as CI builds it.
book-fast: dev
	$(PY) tools/book.py --fast --jobs 2

# Every page of the built site in headless Chromium (figures, videos, toggles, links).
book-check: book-fast
	$(PY) -m pytest -q --e2e -m site tests/e2e/test_site.py

clean:
	rm -rf build
