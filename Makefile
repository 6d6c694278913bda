# One command each for a newcomer: `make demo` and `make test` set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# The CPU build of torch; a plain `torch` could pull a multi-GB CUDA build.
	$(PY) -m pip install "torch==2.13.0"
	$(PY) -m pip install -e ".[test,report,cluster]"
	touch $(STAMP)

demo: install
	$(PY) -m samaudio_daw.demo

lint: install
	$(VENV)/bin/ruff check samaudio_daw tests benchmarks
	$(VENV)/bin/ruff format --check samaudio_daw tests benchmarks
	$(VENV)/bin/mypy samaudio_daw

test: install lint
	$(VENV)/bin/pytest --cov=samaudio_daw --cov-report=term

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .coverage
