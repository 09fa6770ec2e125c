# Two commands do all set-up on a fresh machine:
#   make run    the main job: the exchange service (isocross serve) with the demo market
#   make test   lint (ruff), types (mypy --strict) and the whole test suite
# Both bootstrap uv into .tools/ and the locked environment into .venv/ on first use.
PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint setup clean bench

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check 'uv==0.13.9'

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON) --quiet
	touch $@

setup: $(VENV)/.synced

run: setup
	$(VENV)/bin/isocross serve --database .isocross

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -n auto --dist loadfile -q

bench: setup
	$(VENV)/bin/python bench/liquidation_price.py --quick

clean:
	rm -rf .tools $(VENV)
