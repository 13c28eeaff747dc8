# MemberGuard: `make run` and `make test` are all a fresh machine with Python 3.11+ needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test bench lint check stop clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	rm -f $(VENV)/.installed-*
	touch $@

## Embedded PostgreSQL + Redis (unless DATABASE_URL/REDIS_URL are set), migrate, demo data,
## then web + Celery worker + beat. Ctrl-C stops everything; data stays in var/.
run: install
	DEBUG=$${DEBUG:-true} PORT=$(or $(PORT),8000) $(BIN)/python -m config.launcher

## The whole suite against real PostgreSQL and Redis (embedded ones when the URLs are unset).
test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

## Benchmarks: prints a table and writes var/bench/results.json (see docs/benchmarks.md).
bench: install
	DEBUG=true EMBEDDED_DB_NAME=memberguard_bench $(BIN)/python manage.py migrate --no-input -v 0
	# As the login (the owner): the benchmarks create and drop their own tables and partitions.
	DEBUG=true DATABASE_ROLE= EMBEDDED_DB_NAME=memberguard_bench $(BIN)/python manage.py bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python .ci/structure.py
	DEBUG=true $(BIN)/mypy

check: install
	DEBUG=true $(BIN)/python manage.py check
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

## Stop embedded servers left running (make run stops them itself on Ctrl-C).
stop:
	$(BIN)/python -c "from config import embedded; embedded.stop_all()"

clean: stop
	rm -rf $(VENV) var staticfiles
