# Token Portal: `make run` and `make test` do all set-up on a fresh machine (Python 3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

.PHONY: run test lint fmt migrate worker messages schema clean vendor bench-metering bench-relay bench-call-log

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed  ## web + worker + beat on http://127.0.0.1:8000 (Ctrl-C stops all)
	$(MANAGE) migrate --no-input
	$(MANAGE) seed_demo
	@echo "Portal: http://127.0.0.1:8000  (staff console: /admin/, API docs: /api/docs/)"
	PATH="$(CURDIR)/$(BIN):$$PATH" DEBUG=$${DEBUG:-true} $(BIN)/honcho start -f Procfile.dev

# axe-core for the browser tests (tests/e2e) and the openai JavaScript SDK for the relay test
# (tests/relay/test_clients.py), from package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

test: $(BIN)/.installed node_modules/.installed  ## the whole suite (PostgreSQL when DATABASE_URL is set, else SQLite)
	DJANGO_ENV=test $(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports  ## the floors of docs/architecture.md (pyproject.toml)
	$(BIN)/ruff format --check .
	DJANGO_ENV=test $(MANAGE) makemigrations --check --dry-run

fmt: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(BIN)/.installed
	$(MANAGE) migrate

worker: $(BIN)/.installed
	$(BIN)/celery -A portal worker --loglevel=INFO

messages: $(BIN)/.installed  ## refresh the zh-Hans catalog after adding strings, then translate
	$(MANAGE) makemessages --locale zh_Hans --no-obsolete --no-location --ignore '.venv/*' --ignore 'var/*'
	sed -i '/^"POT-Creation-Date/d' locale/zh_Hans/LC_MESSAGES/django.po
	$(MANAGE) compilemessages --locale zh_Hans --ignore '.venv/*'

schema: $(BIN)/.installed  ## regenerate the committed OpenAPI schema
	env -u DATABASE_URL DJANGO_ENV=test $(MANAGE) spectacular --file docs/openapi.yaml --validate  # on SQLite: the test compares there

vendor:  ## fetch the pinned front-end libraries (package.json) and copy them to static/vendor/
	npm install --no-audit --no-fund
	mkdir -p static/vendor
	cp node_modules/echarts/dist/echarts.min.js static/vendor/echarts.min.js
	cp node_modules/echarts/LICENSE static/vendor/echarts.LICENSE
	cp node_modules/@picocss/pico/css/pico.min.css static/vendor/pico.min.css
	cp node_modules/@picocss/pico/LICENSE.md static/vendor/pico.LICENSE.md

bench-metering: $(BIN)/.installed  ## metering benchmarks (PostgreSQL: set DATABASE_URL)
	DJANGO_ENV=test $(BIN)/pytest tests/benchmarks/test_metering_bench.py -s $(PYTEST_ARGS)

bench-relay: $(BIN)/.installed  ## relay vs direct upstream: added latency, throughput ratio
	DJANGO_ENV=test $(BIN)/pytest tests/benchmarks/test_relay_bench.py -s $(PYTEST_ARGS)

bench-call-log: $(BIN)/.installed  ## call log on 5 M calls: deep keyset pages vs the first page and OFFSET (PostgreSQL)
	DJANGO_ENV=test $(BIN)/pytest tests/benchmarks/test_call_log_bench.py -s $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var
