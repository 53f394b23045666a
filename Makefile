# The two commands: `make run` and `make test`. Everything else is what they stand on.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test mutation bench clean system-deps-run system-deps-test

run: $(STAMP) system-deps-run
	$(BIN)/telemed db upgrade
	$(BIN)/telemed demo --if-needed
	$(BIN)/telemed serve

test: $(STAMP) system-deps-test
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Mutation testing of the safety-critical modules (not part of `make test`; ~30 min on 2 cores).
mutation: $(STAMP)
	$(BIN)/python scripts/mutation.py $(MODULES)

bench: $(STAMP)
	$(BIN)/python bench/foundation.py
	$(BIN)/python bench/ehr.py
	$(BIN)/python bench/labs.py
	$(BIN)/python bench/consults.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/cluster.py

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

system-deps-run:
	scripts/system-deps.sh run

system-deps-test:
	scripts/system-deps.sh test

clean:
	rm -rf $(VENV) var build *.egg-info
