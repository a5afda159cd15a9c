# The two commands of the README: `make run` (install and start) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

# Runtime and test dependencies, reinstalled only when pyproject.toml changes.
$(VENV)/.deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q '.[test]'
	touch $@

# Install the console itself (not editable, so its bytecode is compiled) and start it
# on local defaults: libpq's PG* variables and socket, else 127.0.0.1:5432.
run: $(VENV)/.deps
	$(BIN)/pip install -q --no-deps --force-reinstall .
	$(BIN)/ops-console $(ARGS)

# Makes sure PostgreSQL (and Redis) run, a Docker engine with its test images, and the
# OpenSSH binaries the ssh:// tests start their own sshd from, then the whole suite; a
# missing server fails the run instead of skipping its tests.
test: $(VENV)/.deps
	bash .ci/services.sh
	bash .ci/docker.sh
	bash .ci/ssh.sh
	OPS_REQUIRE_SERVICES=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.deps
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
