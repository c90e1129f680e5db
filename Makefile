# Stockwise: `make run` runs the daily planning DAG on the embedded demo; `make test` runs the tests.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# the embedded default: everything under ./.stockwise, no servers
export STOCKWISE_HOME ?= $(CURDIR)/.stockwise
export AIRFLOW_HOME ?= $(STOCKWISE_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM := 4
export AIRFLOW__API__HOST := 127.0.0.1
export MLFLOW_DISABLE_TELEMETRY := true
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := false
export DO_NOT_TRACK := true
export GX_ANALYTICS_ENABLED := false
export SPARK_LOCAL_IP := 127.0.0.1
export PYSPARK_PYTHON := $(BIN)/python
export PYSPARK_DRIVER_PYTHON := $(BIN)/python

# the demo ERP and the run date (the last day of the demo's history)
SKUS ?= 200
STORES ?= 5
DAYS ?= 730
SEED ?= 7
# DEMO_FLAGS=--direct: every store buys from its suppliers (no DC01)
DEMO_FLAGS ?=
DS ?= 2025-12-31
PYTEST_ARGS ?=

.PHONY: stack-up stack-run stack-status stack-down
.PHONY: help install run train demo test test-fast test-tools screenshots env lint lock airflow-ui mlflow-ui where clean bench-deps bench vision-deps shelf-photos shelf

help:
	@echo "make run         create the environment, the demo ERP, and run the inventory_planning DAG for DS=$(DS)"
	@echo "make test        run the whole test suite (installs what it needs)"
	@echo "make train       run the model_training DAG for DS (backtest, register, promote in MLflow)"
	@echo "make test-fast   unit tests only"
	@echo "make bench       forecast accuracy on ../shared/data vs statsforecast and mlforecast"
	@echo "make demo        (re)generate the demo ERP (SKUS=$(SKUS) STORES=$(STORES) DAYS=$(DAYS) SEED=$(SEED))"
	@echo "make airflow-ui  Airflow UI on http://127.0.0.1:8080 with this repo's DAGs and data"
	@echo "make mlflow-ui   MLflow UI on http://127.0.0.1:5000 on the embedded tracking store"
	@echo "make vision-deps the optional shelf-vision extra (torch, ultralytics: AGPL-3.0)"
	@echo "make shelf       photograph the demo ERP's shelves, train stockwise-shelf, count and reconcile (~25 min on CPU)"
	@echo "make lint        ruff (lint, format), mypy, import-linter"
	@echo "make screenshots the report of DS in headless Chromium, into docs/img (after make run)"
	@echo "make env         a .env with fresh random secrets for docker-compose.yaml"
	@echo "make stack-up    the production stack as local processes (Celery, PostgreSQL, MLflow server, S3, Spark cluster)"
	@echo "make stack-run   train and plan on it through Airflow's REST API; make stack-down stops it"
	@echo "make lock        re-resolve requirements/lock.txt from requirements/base.in"

$(STAMP): requirements/lock.txt requirements/tools.txt pyproject.toml
	@echo "[stockwise] creating $(VENV) from requirements/lock.txt (about 1-2 minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements/tools.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --compile-bytecode -r requirements/lock.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# the demo ERP follows its generator: one written by an older demo.py (before its transfers
# table, say) is written again, or the demo mapping would query a table it lacks
$(STOCKWISE_HOME)/erp.db: pipelines/stockwise/erp/demo.py | $(STAMP)
	@echo "[stockwise] generating the demo ERP: $(SKUS) skus x $(STORES) stores x $(DAYS) days"
	$(BIN)/stockwise demo-erp --skus $(SKUS) --stores $(STORES) --days $(DAYS) --seed $(SEED) --end $(DS) $(DEMO_FLAGS)

demo: $(STAMP)
	rm -f $(STOCKWISE_HOME)/erp.db
	$(MAKE) $(STOCKWISE_HOME)/erp.db

$(AIRFLOW_HOME)/airflow.db: | $(STAMP)
	@echo "[stockwise] creating the Airflow metadata database (SQLite) in $(AIRFLOW_HOME)"
	$(BIN)/airflow db migrate > /dev/null

# $(call dag_test,DAG_ID): run one DAG for DS through Airflow, short progress here, full log kept;
# refused (exit 75) while another run of that DAG and date is going (stockwise.guard)
define dag_test
	@mkdir -p $(STOCKWISE_HOME)/logs
	@echo "[stockwise] running DAG $(1) for $(DS) (full log: $(STOCKWISE_HOME)/logs/$(1)-$(DS).log)"
	$(BIN)/python -m stockwise.guard --dag $(1) --ds $(DS) -- \
	  $(BIN)/airflow dags test $(1) $(DS) $(if $(2),-c '$(2)') 2>&1 \
	  | tee $(STOCKWISE_HOME)/logs/$(1)-$(DS).log \
	  | $(BIN)/python -u -m stockwise.progress --record
endef

run: $(STAMP) $(STOCKWISE_HOME)/erp.db $(AIRFLOW_HOME)/airflow.db
	$(call dag_test,inventory_planning)
	@$(BIN)/stockwise -q where --ds $(DS) | $(BIN)/python -m stockwise.progress --summary

train: $(STAMP) $(STOCKWISE_HOME)/erp.db $(AIRFLOW_HOME)/airflow.db
	$(call dag_test,model_training)

VISION_STAMP := $(VENV)/.vision-stamp
$(VISION_STAMP): requirements/vision.txt | $(STAMP)
	@echo "[stockwise] installing the optional vision extra (torch, ultralytics; about 2 minutes)"
	$(BIN)/python -m pip install -q -r requirements/vision.txt
	touch $(VISION_STAMP)

vision-deps: $(VISION_STAMP)

# shelf photos of the demo ERP's stores (as physically stocked) into the lake, for the shelf_vision DAG
shelf-photos: $(VISION_STAMP) $(STOCKWISE_HOME)/erp.db
	$(BIN)/python -c "from stockwise.orchestration import call; print(call('demo_shelf_photos', '$(DS)'))"

# train and promote stockwise-shelf (STOCKWISE_SHELF_* settings; promoted only above
# STOCKWISE_SHELF_MIN_MAP50), then count and reconcile the photos
shelf: shelf-photos $(AIRFLOW_HOME)/airflow.db
	$(call dag_test,shelf_vision,{"retrain": true})

bench-deps: $(STAMP)
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements/bench-lock.txt

bench: bench-deps
	$(BIN)/python bench/forecast_accuracy.py

where:
	@$(BIN)/stockwise -q where --ds $(DS)

# Debian tools the tests drive: docker-compose validates the compose file (no Docker engine runs
# here), chromium shows the report to the browser tests. Installed when missing (as root, as on
# CI machines); otherwise said, and the test fails.
test-tools:
	@command -v docker-compose >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "[stockwise] installing Debian's docker-compose (to validate docker-compose.yaml)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null; \
	  else echo "[stockwise] please install docker-compose (Debian package): the compose test needs it"; fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "[stockwise] installing Debian's chromium (the report's browser tests; about a minute)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	  else echo "[stockwise] please install chromium (Debian package): the browser tests need it"; fi; }

BROWSER_STAMP := $(VENV)/.browser-stamp
$(BROWSER_STAMP): requirements/browser.txt | $(STAMP)
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements/browser.txt
	touch $(BROWSER_STAMP)

# screenshots of the `make run` report for the README (docs/img/report-*.png)
screenshots: $(BROWSER_STAMP) test-tools
	$(BIN)/python -m stockwise.screenshots --ds $(DS) --out docs/img

test: $(STAMP) $(VISION_STAMP) $(BROWSER_STAMP) test-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# a .env for the compose stack with fresh random secrets (never overwrites an existing one)
env:
	@test ! -e .env || { echo ".env exists: not overwritten"; exit 1; }
	@$(PYTHON) -c 'import base64, os, re, secrets; t = open(".env.example").read(); \
	  key = base64.urlsafe_b64encode(os.urandom(32)).decode(); \
	  t = re.sub(r"(?m)^(AIRFLOW_FERNET_KEY)=.*$$", lambda m: m.group(1) + "=" + key, t); \
	  t = re.sub(r"(?m)^(\w+)=change-me.*$$", lambda m: m.group(1) + "=" + secrets.token_urlsafe(24), t); \
	  fd = os.open(".env", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600); os.write(fd, t.encode()); os.close(fd)'
	@echo "[stockwise] wrote .env (mode 600) with fresh secrets for docker-compose"

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

CODE := pipelines features training serving dags tests bench

# ruff (lint and format), mypy on the packages, import-linter (the import direction); .ci/run runs it
lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

lock:
	$(BIN)/uv pip compile requirements/base.in --python-version 3.11 -o requirements/lock.txt --no-header

AIRFLOW_UI_PORT ?= 8080
airflow-ui: $(STAMP) $(AIRFLOW_HOME)/airflow.db
	@infra/local/airflow-ui.sh $(BIN) $(AIRFLOW_UI_PORT)

mlflow-ui: $(STAMP)
	@mkdir -p $(STOCKWISE_HOME)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(STOCKWISE_HOME)/mlflow.db \
	  --default-artifact-root file://$(STOCKWISE_HOME)/mlartifacts --host 127.0.0.1 --port 5000 --workers 1

# the production stack as processes on this machine (stockwise.stack): PostgreSQL, S3 (moto),
# MLflow server, Airflow with a Celery worker, a Spark master and two workers; all on 127.0.0.1
stack-up: $(STAMP)
	$(BIN)/python -m stockwise.stack up --skus $(SKUS) --stores $(STORES) --days $(DAYS) --seed $(SEED) --end $(DS)

stack-run: $(STAMP)
	$(BIN)/python -m stockwise.stack run --ds $(DS)

stack-status: $(STAMP)
	@$(BIN)/python -m stockwise.stack status

stack-down: $(STAMP)
	$(BIN)/python -m stockwise.stack down

clean:
	rm -rf $(STOCKWISE_HOME)
