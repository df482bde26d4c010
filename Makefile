# Every target builds .venv itself, so a fresh clone needs nothing installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RUTRADAR_DATABASE_URL ?= sqlite+aiosqlite:///rutradar.db

.PHONY: install run test test-future lint bench messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/rutradar db upgrade
	$(BIN)/rutradar demo
	$(BIN)/rutradar serve

test: $(STAMP)
	$(BIN)/pytest -q

# The suite again with the machine's clock a year ahead (Debian's faketime): no test may
# depend on today's date. Monotonic time stays real so timeouts keep their meaning.
test-future: $(STAMP)
	FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f '+365d' $(BIN)/pytest -q -m "not browser"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Performance targets (docs/benchmarks.md): ratios against a baseline measured in the same run.
bench: $(STAMP)
	$(BIN)/python -m benchmarks


# Re-extract the interface strings and merge them into each locale's catalog.
messages: $(STAMP)
	$(BIN)/pybabel extract -F messages/babel.cfg -o messages/messages.pot messages
	$(BIN)/pybabel update -i messages/messages.pot -d messages/locale --no-fuzzy-matching

clean:
	rm -rf $(VENV) rutradar.db rutradar.db-wal rutradar.db-shm .pytest_cache .mypy_cache .ruff_cache
