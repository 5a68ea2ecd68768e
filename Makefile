# The two set-up commands: `make run` and `make test`. Both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: run test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

# The project root on the venv's path, so `webapp` and `tools` import from any working
# directory (lint-imports run from elsewhere with `--config`, scripts, editors).
PROJECT_PTH := $(VENV)/.project-path
$(PROJECT_PTH): | $(BIN)/python
	echo "$(CURDIR)" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/course_checkout.pth"
	touch $@

# axe-core (pinned in package-lock.json) for the browser suite's accessibility checks; not needed at run time.
AXE := node_modules/axe-core/axe.min.js

$(AXE): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the browser accessibility checks need axe-core (apt-get install npm)"; fi

run: $(VENV)/.runtime
	$(BIN)/flask db upgrade
	$(BIN)/flask seed
	$(BIN)/flask run --host 127.0.0.1 --port 5000 --with-threads

test: $(VENV)/.dev $(PROJECT_PTH) $(AXE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev $(PROJECT_PTH)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache test-output
