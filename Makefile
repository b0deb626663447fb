# Two entry points for a new user: `make demo` (the main job) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
# One test process per core (pytest-xdist), each taking the next test when it is free.
PARALLEL ?= -n auto --dist worksteal

.PHONY: demo lint format test test-tensorflow test-jax test-torch test-slow notebooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,jax,torch]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python -m kapps.demo

test: $(VENV)/.installed-test
	$(MAKE) lint test-tensorflow test-jax test-torch

# One code style (ruff, settings in pyproject.toml): `make lint` checks it, `make format` applies it.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-tensorflow:
	KERAS_BACKEND=tensorflow $(PYTEST) $(PARALLEL) -m "not slow"

test-jax:
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL) -m "multibackend and not slow"

test-torch:
	KERAS_BACKEND=torch $(PYTEST) $(PARALLEL) -m "multibackend and not slow"

test-slow: $(VENV)/.installed-test
	KERAS_BACKEND=tensorflow $(PYTEST) $(PARALLEL) -m slow
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL) -m "multibackend and slow"
	KERAS_BACKEND=torch $(PYTEST) $(PARALLEL) -m "multibackend and slow"

# Runs every notebook and stores it with its outputs (tens of minutes on 2 CPU cores).
notebooks: $(VENV)/.installed-test
	KERAS_BACKEND=tensorflow $(BIN)/python notebooks/render.py

clean:
	rm -rf runs models .pytest_cache
