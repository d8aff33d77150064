# The two commands of the README: `make serve` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SERVE_PACKAGES := redis-server
TEST_PACKAGES := redis-server chromium

.PHONY: serve test

# Debian packages, installed only when missing.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi
endef

# torch is pinned to 2.13.0 and installed first, on its own: see the README for getting its CPU build.
define venv_install
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '$(1)'
	touch $@
endef

serve: $(VENV)/.installed-serve
	$(call apt_install,$(SERVE_PACKAGES))
	$(BIN)/confab serve

test: $(VENV)/.installed-test
	$(call apt_install,$(TEST_PACKAGES))
	$(BIN)/python -m pytest
	$(BIN)/mypy

$(VENV)/.installed-serve: pyproject.toml
	$(call venv_install,.)

$(VENV)/.installed-test: pyproject.toml
	$(call venv_install,.[test])
