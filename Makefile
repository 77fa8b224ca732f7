# Two commands for a fresh clone with nothing but Python 3.11+:
#   make run   – venv, pinned requirements, database migrated, demo seeded if empty, dashboard on :8501
#   make test  – venv, dev requirements, the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
PYTEST_ARGS ?=

.PHONY: run test db bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

db: $(VENV)/.installed
	$(BIN)/python -m dashboard migrate
	$(BIN)/python -m dashboard demo --if-empty

run: db
	$(BIN)/python -m streamlit run serve.py --server.port $(PORT) --server.headless true

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev-installed
	$(BIN)/python -m dashboard bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
