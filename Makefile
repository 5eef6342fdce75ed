# The two commands of the README: `make dev` (run locally) and `make test` (the whole suite).
# Both create .venv and install what is missing on a fresh machine (Python 3.11+ needed).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0

.PHONY: install dev test test-fast test-browser bench openapi validate build clean admin

$(STAMP): requirements-dev.txt layers/common/requirements.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@touch $@

install: $(STAMP)

dev: install
	$(BIN)/python -m local.server

# Grant the admin role to a verified account through the running `make dev` (same PORT as there,
# default 3000); its next token carries accounts:admin. In AWS: scripts/grant_admin.py --stack-name.
admin: install
	@test -n "$$EMAIL" || { echo "usage: make admin EMAIL=<address> [PORT=<port of make dev>]"; exit 2; }
	@$(BIN)/python scripts/grant_admin.py --local-port "$${PORT:-3000}" --email "$$EMAIL"

test: install
	$(BIN)/python -m pytest

# Unit and handler tests only (no local server, no sam): the quick loop while coding.
test-fast: install
	$(BIN)/python -m pytest -m "not e2e and not slow"

# The web app in headless Chromium (part of `make test`): the system browser, skipped when there is
# none (apt-get install -y chromium-headless-shell, or CHROMIUM_PATH=...). Screenshots: .artifacts/.
test-browser: install
	$(BIN)/python -m pytest tests/e2e/browser

# ONLY=units,cost runs some sections (coldstart, units, login, cost); the cold start takes a while.
bench: install
	$(BIN)/python bench/run.py $(if $(ONLY),--only $(ONLY))

openapi: install
	$(BIN)/python scripts/generate_openapi.py --write

# The operations dashboard's body in template.yaml, rendered from its one definition (ops/dashboard.py).
.PHONY: dashboard
dashboard: install
	$(BIN)/python -m ops.dashboard --write

validate: install
	$(BIN)/sam validate --lint --region us-east-1

# sam build needs python3.13 on PATH; with pyenv, use its 3.13 without changing the selected version.
PY313_PREFIX := $(shell command -v pyenv >/dev/null 2>&1 && pyenv prefix $$(pyenv versions --bare 2>/dev/null | grep '^3\.13' | tail -1) 2>/dev/null)
build: install
	PATH="$(if $(PY313_PREFIX),$(PY313_PREFIX)/bin:)$$PATH" $(BIN)/sam build --no-cached

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache
