# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench screenshots clean

$(BIN)/inboxd: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/inboxd

run: $(BIN)/inboxd
	$(BIN)/inboxd run

test: lint
	$(BIN)/pytest

# the same checks as .pre-commit-config.yaml: types (strict), lint with the complexity cap, format
lint: $(BIN)/inboxd
	$(BIN)/mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/inboxd
	$(BIN)/python -m bench $(BENCH_ARGS)

# docs/images/dashboard-*.png, for docs/dashboard.md: the browser test's screenshots, kept
screenshots: $(BIN)/inboxd
	DASHBOARD_SCREENSHOTS_TO=docs/images $(BIN)/pytest -q -p no:randomly \
		tests/web/test_page.py -k every_page

clean:
	rm -rf $(VENV) var
