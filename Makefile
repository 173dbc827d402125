# myna-kiosk: the two commands are `make run` and `make test`.
# Both set up a fresh Debian machine first: apt packages (as root or via sudo),
# the virtualenv, and the project itself.

SHELL        := /bin/bash
PYTHON       ?= python3
VENV         ?= .venv
PY           := $(VENV)/bin/python
STAMPS       := .stamps
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Everything the tests and the desktop run need from Debian.  Kept in one
# file so deploy/install.sh and CI agree on it.
APT_PACKAGES := $(shell grep -v '^\s*\#' deploy/apt-dev.txt | tr '\n' ' ')

.PHONY: all setup run test bench clean apt venv

all: test

$(STAMPS):
	@mkdir -p $(STAMPS)

# apt: install only what is missing, so a prepared machine skips apt-get entirely.
$(STAMPS)/apt: deploy/apt-dev.txt | $(STAMPS)
	@missing=""; for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "apt: installing$$missing"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

$(STAMPS)/venv: pyproject.toml $(STAMPS)/apt | $(STAMPS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# The Japanese HTS voice (Mei) for Open JTalk, from pyopenjtalk's source on PyPI (docs/voice.md).
$(STAMPS)/voice: $(STAMPS)/venv
	$(PY) -m kiosk speak --fetch-voice .cache/voice
	@touch $@

apt: $(STAMPS)/apt
venv: $(STAMPS)/venv
setup: $(STAMPS)/venv $(STAMPS)/voice

# With no hardware configured the kiosk opens a desktop window, uses the
# simulated card (F1-F8 insert profiles, F9 removes) and the loopback
# reference linkage gateway.
run: setup
	$(PY) -m kiosk run $(RUN_ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(STAMPS) .pytest_cache .hypothesis .cache
