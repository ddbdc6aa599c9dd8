# commerce-graph — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

include mk/engines.mk
include mk/gremlin.mk
include mk/redis.mk
include mk/postgres.mk
include mk/stripe.mk
include mk/odata.mk
include mk/amplify.mk
include mk/lambda.mk

.PHONY: run test bench bench-faults bench-fanout lint check schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

# Stamps make a second `make` instant and re-install only when pyproject.toml changes.
$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[embedded]'
	touch $@

$(VENV)/.dev-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.run-deps

## run: serve the graph on the embedded default (moto in process, seeded demo data)
run: $(VENV)/.run-deps engines-gremlin
	CG_EMBEDDED=true $(BIN)/commerce-graph serve

## test: install everything the tests need (engines included), lint, type-check, test
test: $(VENV)/.dev-deps engines-ddb engines-gremlin engines-redis engines-postgres engines-stripe \
      engines-odata engines-amplify
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q

## bench: the standard operations against DynamoDB Local, beside their baselines
bench: $(VENV)/.dev-deps engines-ddb engines-gremlin
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench

## bench-faults: product page, cart and checkout under ERP / payments / loyalty faults (~2.5 min)
bench-faults: $(VENV)/.dev-deps engines-ddb engines-stripe engines-odata engines-postgres
	$(BIN)/python -m bench.faults

## bench-fanout: one mutation to 1,000 subscribers (in process and Redis), ~1.5 min
bench-fanout: $(VENV)/.dev-deps engines-ddb engines-redis
	$(BIN)/python -m bench.fanout

## schema: rewrite schema.graphql from the code (a test fails when they differ)
schema: $(VENV)/.run-deps
	$(BIN)/commerce-graph schema export > schema.graphql

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
