# Complaint analytics pipeline. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export COMPLAINTS_LAKE ?= $(CURDIR)/lake
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON ?= $(CURDIR)/$(BIN)/python
# Empty: 8080, or the next free port. `make airflow AIRFLOW_PORT=9090` to choose.
AIRFLOW_PORT ?=

.DEFAULT_GOAL := help
.PHONY: help install chromium demo test test-fast lint airflow bench clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) chromium ## Create .venv and install the pinned dependencies (requirements.lock)

CHROMIUM ?= /usr/bin/chromium
CHROMIUM_HINT := the report's browser test skips without it (and fails when CI is set)
chromium: ## Debian's chromium for the report's browser test (apt-get as root or with passwordless sudo)
	@if [ -x "$(CHROMIUM)" ]; then echo "chromium: $(CHROMIUM)"; \
	elif ! command -v apt-get >/dev/null; then \
	  echo "chromium is missing and this is not Debian (no apt-get): install Chromium at $(CHROMIUM); $(CHROMIUM_HINT)"; \
	else \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; \
	  else echo "chromium is missing: run 'sudo apt-get install chromium' (needs root); $(CHROMIUM_HINT)"; exit 0; fi; \
	  echo "installing Debian's chromium (apt-get)"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    || echo "apt-get could not install chromium; $(CHROMIUM_HINT)"; \
	fi

demo: $(STAMP) ## Run the whole pipeline end to end on the local default, show the result, write the HTML report
	$(BIN)/complaints demo

test: $(STAMP) chromium ## Run the whole test suite (unit, DAG integrity, end to end)
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## Run the tests without the end-to-end ones
	$(BIN)/python -m pytest -m "not e2e"

PACKAGES := common complaints dags jobs quality samples schemas streaming warehouse

lint: $(STAMP) ## ruff (explicit rule set, complexity), mypy --strict, import floors (lint-imports)
	$(BIN)/ruff check $(PACKAGES) bench tests
	$(BIN)/mypy $(PACKAGES) bench tests
	$(BIN)/lint-imports

airflow: $(STAMP) ## Airflow (UI + scheduler) on 127.0.0.1 with these DAGs, the AWS emulator started and seeded
	$(BIN)/complaints airflow $(if $(AIRFLOW_PORT),--port $(AIRFLOW_PORT))

bench: $(STAMP) ## Run the benchmarks and write a report (bench/report.md)
	$(BIN)/python -m bench

clean: ## Remove the lake and the Airflow home (keeps .venv); stops an emulator recorded there
	@test -x $(BIN)/complaints && AIRFLOW_HOME=$(CURDIR)/.airflow $(BIN)/complaints emulator stop 2>/dev/null || true
	rm -rf lake .airflow
