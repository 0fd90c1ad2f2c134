# alphatrade: `make demo` and `make test` each set everything up first (venv + install), then run.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA ?= data
PYTEST_ARGS ?=
TEST_WORKERS ?= 2
LAB_PORT ?= 8888

.PHONY: setup demo test lab docs bench export clean-nbs check-sync distclean

$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel setuptools
	# torch first: 2.13.0 is a local CPU wheel; any other version downloads gigabytes
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip check
	@# numba's compiled vectorbt functions and matplotlib's font list, built once here rather than cold in every test process
	$(BIN)/python tools/warm_caches.py
	@touch $(STAMP)

setup: $(STAMP)

## The main job on the embedded default data: synthesize the market, store it, validate it, summarize it; train a model,
## backtest it out of sample and report on both (papermill runs into runs/); then paper-trade the market's last day through
## the live daemon (alphatrade live --mode sim) and print the day's fills and P&L, and where the report is.
demo: setup
	$(BIN)/alphatrade data synth --data-dir $(DATA) --seed 42 --start 2025-01-02 --end 2025-12-31
	$(BIN)/alphatrade data validate --store $(DATA)/synthetic
	$(BIN)/alphatrade data info --store $(DATA)/synthetic
	@# research runs (papermill, into runs/): walk-forward LightGBM, registered; its out-of-sample backtest; a report of both
	$(BIN)/alphatrade run train -p data $(DATA)/synthetic -p model lightgbm -p model_name demo -p start 2025-04-01 -p end 2025-09-30 -p folds 5
	$(BIN)/alphatrade run backtest -p data $(DATA)/synthetic -p strategy ml -p model demo -p start 2025-10-01 -p end 2025-12-31
	$(BIN)/alphatrade run report
	@# paper-trade the last replayed day through the live daemon against the local Alpaca simulator (fresh ledger each time)
	rm -f $(DATA)/live-demo.db
	$(BIN)/alphatrade live --mode sim --data $(DATA)/synthetic --start 2025-12-30 --end 2025-12-30 --strategy ma_crossover \
	  --fast 5 --slow 20 --run-id demo --db sqlite:///$(DATA)/live-demo.db --health-port -1 2> $(DATA)/live-demo.log
	@echo "== the research report: $$(ls -d $(CURDIR)/runs/*-report | tail -1)/report.ipynb (equity overlay: equity_overlay.png beside it)"

## Everything: every notebook's tests (one pytest item each) and the integration tests in tests/, on TEST_WORKERS cores
## (pytest-xdist; TEST_WORKERS=0 runs in one process).
test: setup
	$(BIN)/python -m pytest tests $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

## JupyterLab on nbs/ with the project's environment, on 127.0.0.1 only, behind a fresh token (printed).
lab: setup
	@token=$$($(BIN)/python -c "import secrets; print(secrets.token_hex(24))"); \
	echo "JupyterLab: http://127.0.0.1:$(LAB_PORT)/lab?token=$$token"; \
	exec $(BIN)/jupyter lab --no-browser --ip 127.0.0.1 --port $(LAB_PORT) --ServerApp.port_retries=0 \
	  --IdentityProvider.token=$$token --notebook-dir nbs $(if $(filter 0,$(shell id -u)),--allow-root)

## The docs site into _docs/: nbdev_docs when Quarto is installed, otherwise the offline build (tools/build_docs.py).
docs: setup
	$(BIN)/python tools/build_docs.py $(DOCS_ARGS)

bench: setup
	$(BIN)/python bench/run.py $(BENCH_ARGS)

export: setup
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	$(BIN)/python tools/make_readme.py

check-sync: setup
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export
	$(BIN)/python tools/make_readme.py
	@if [ -n "$$(git status --porcelain -uno -- nbs alphatrade README.md)" ]; then \
	  echo "notebooks and library are not in sync (run make export and commit):"; git status --porcelain -uno -- nbs alphatrade README.md; exit 1; fi

distclean:
	rm -rf $(VENV)
