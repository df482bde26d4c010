# Every target builds .venv itself, so a fresh clone needs nothing installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RUTRADAR_DATABASE_URL ?= sqlite+aiosqlite:///rutradar.db
# The Teams card validator (tests/test_teams_cards.py): the real adaptivecards package, and
# markdown-it, which its renderer uses, installed with npm into an ignored folder.
NODE_DIR := .cache/node
CARD_VALIDATOR := $(NODE_DIR)/.installed-adaptivecards-3.0.6

.PHONY: install run test test-future lint bench messages teams-playground clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# A throwaway RUTRADAR_SECRET_KEY for this checkout (the playground stores no token; a Slack
# OAuth install tried from here does, encrypted with it), unless one is set already.
SECRET_KEY_FILE := .secret_key

run: $(STAMP)
	@if [ -z "$$RUTRADAR_SECRET_KEY" ] && [ ! -s $(SECRET_KEY_FILE) ]; then \
		(umask 077 && $(BIN)/rutradar secrets generate > $(SECRET_KEY_FILE)); \
	fi
	$(BIN)/rutradar db upgrade
	$(BIN)/rutradar demo
	RUTRADAR_SECRET_KEY="$${RUTRADAR_SECRET_KEY:-$$(cat $(SECRET_KEY_FILE))}" $(BIN)/rutradar serve

# Never fails: without npm or the registry the card tests are skipped and say why, and the
# install is tried again on the next `make test`.
$(CARD_VALIDATOR):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error \
			--fetch-retries=1 --fetch-timeout=30000 adaptivecards@3.0.6 markdown-it@14.1.0 \
		&& touch $@ \
		|| echo "npm could not install adaptivecards (offline?): the Teams card validation tests will be skipped"; \
	else \
		echo "npm is not installed: the Teams card validation tests will be skipped"; \
	fi

test: $(STAMP) $(CARD_VALIDATOR)
	$(BIN)/pytest -q

# The suite again with the machine's clock a year ahead (Debian's faketime): no test may
# depend on today's date. Monotonic time moves with it (an offset, so durations stay true;
# faking only the wall clock breaks sleeps with absolute deadlines under libfaketime).
test-future: $(STAMP)
	faketime -f '+365d' $(BIN)/pytest -q -m "not browser"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Performance targets (docs/benchmarks.md): ratios against a baseline measured in the same run.
# The project's bytecode is compiled first, as `pip install .` (the container image) does: the
# editable install leaves it to the first import, which PYTHONDONTWRITEBYTECODE=1 turns into a
# compile on every start (0.35 s of a 2.2 s profiled import).
bench: $(STAMP)
	$(BIN)/python -m compileall -q bot adapters storage messages benchmarks
	$(BIN)/python -m benchmarks


# The Teams adapter in Microsoft 365 Agents Playground, offline, for a look as a user
# (docs/teams.md): installs the Playground into .cache/agentsplayground, runs the bot with
# RUTRADAR_DEV=1 on loopback and a throwaway database. Manual only: never part of `make test`.
teams-playground: $(STAMP)
	sh deploy/teams/playground.sh

# Re-extract the interface strings and merge them into each locale's catalog.
messages: $(STAMP)
	$(BIN)/pybabel extract -F messages/babel.cfg -o messages/messages.pot messages
	$(BIN)/pybabel update -i messages/messages.pot -d messages/locale --no-fuzzy-matching

clean:
	rm -rf $(VENV) $(NODE_DIR) .cache/agentsplayground rutradar.db rutradar.db-wal rutradar.db-shm $(SECRET_KEY_FILE) .pytest_cache .mypy_cache .ruff_cache
