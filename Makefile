# mtlid — two commands: `make up` runs the whole system, `make test` runs the tests.
# Both create .venv on first use (Python 3.11+).

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up test test-python test-deploy e2e-setup protos clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/mtlid up

test: test-python test-deploy

test-python: $(STAMP) e2e-setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium (installed with apt-get when missing) and inject
# axe-core from tests/e2e/node_modules; nothing downloads a browser.
e2e-setup:
	bash tests/e2e/setup.sh

test-deploy:
	@if [ -f deploy/check.sh ]; then bash deploy/check.sh; fi

protos: $(STAMP)
	$(PY) scripts/gen_protos.py

clean:
	rm -rf var .pytest_cache
