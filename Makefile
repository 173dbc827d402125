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

.PHONY: all setup catalogs run test lint fuzz mutation bench clean apt venv pi-bench release lock

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

# gettext catalogues (docs/i18n.md): the PO files are the source, the .mo files are built.
I18N_PO := $(wildcard kiosk/i18n/locale/*/LC_MESSAGES/*.po)
$(STAMPS)/catalogs: $(I18N_PO) $(STAMPS)/venv
	$(PY) -m kiosk.i18n compile
	@touch $@

apt: $(STAMPS)/apt
venv: $(STAMPS)/venv
catalogs: $(STAMPS)/catalogs
setup: $(STAMPS)/venv $(STAMPS)/voice $(STAMPS)/catalogs

# With no hardware configured the kiosk opens a desktop window, uses the
# simulated card (F1-F8 insert profiles, F9 removes) and the loopback
# reference linkage gateway.
run: setup
	$(PY) -m kiosk run $(RUN_ARGS)

# `make test` is the contract: lint (ruff + mypy, pyproject.toml) and then every test,
# including a short fuzz run (tests/fuzz).
test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check kiosk tests bench
	$(PY) -m mypy

# Long fuzz run of the card layer (docs/card-stack.md): prints cases/s and the
# outcome counts; fails unless crashes, slow operations, unintended VERIFYs and
# My Number accesses are all 0.
FUZZ_CASES ?= 100000
fuzz: setup
	$(PY) tests/fuzz/test_card_fuzz.py --cases $(FUZZ_CASES)

# Mutation testing of kiosk/nfc/apdu.py, card.py, pins.py (mutmut; slow, not in
# `make test`): prints the survivors outside the equivalents documented in
# docs/card-stack.md and fails if there are any.
mutation: $(STAMPS)/mutation
	$(PY) tests/mutation_report.py

$(STAMPS)/mutation: pyproject.toml $(STAMPS)/venv
	$(PY) -m pip install -q -e '.[mutation]'
	@touch $@

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The Raspberry Pi target on this machine (docs/hil.md): an emulated Debian 12 arm64 root
# (cached under /var/cache/myna-kiosk/pi-bench), the kiosk installed there by deploy/install.sh,
# then the CLI, the KMSDRM library check and the reader tests inside.  Root; ~30-40 min.
PI_BENCH_APT := $(shell grep -v '^\s*\#' deploy/pi-bench/apt-host.txt | tr '\n' ' ')
pi-bench:
	@missing=""; for p in $(PI_BENCH_APT); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(SUDO) deploy/pi-bench/bench.sh
# An offline release (docs/operations.md "Releases"): .deb + Mender artifact + manifest per
# architecture in dist/, from the hash-pinned locks in deploy/release/.  `make lock` re-pins them.
# Gate: the last `make pi-bench` must have passed for this source tree (docs/hil.md);
# PI_BENCH=skip overrides it and the manifest records the override.
release: setup
	$(PY) deploy/pi-bench/source_id.py --gate
	PI_BENCH_GATE=passed $(PY) deploy/release/build.py $(RELEASE_ARGS)

lock: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH deploy/release/lock.sh

clean:
	rm -rf $(VENV) $(STAMPS) .pytest_cache .hypothesis .cache .mypy_cache .ruff_cache mutants
