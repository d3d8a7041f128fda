# The two set-up commands of the README: `make plan` and `make test`. Each installs what it needs.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
STACK ?= prod
STAMP := $(VENV)/.installed

.PHONY: plan test bench system-deps install clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	# Editable, so `python -m pulumi.dynamic` can import the pickled provider classes (PULUMI-FACTS Q4).
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Debian's Postfix for the real relay tests. Preseeded "No configuration" so no system instance is
# configured, and policy-rc.d keeps package scripts from starting one on port 25.
system-deps:
	@if command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "postfix is missing and this is not root on Debian: install postfix, or the relay tests fail" >&2; exit 0; fi; \
	created=""; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created=1; fi; \
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null; rc=$$?; \
	if [ -n "$$created" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc

plan: $(STAMP)
	$(VENV)/bin/coldmail plan --stack $(STACK)

test: $(STAMP) system-deps
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/pytest -q

bench: $(STAMP)
	$(PY) benchmarks/converge.py

clean:
	rm -rf $(VENV) .coldmail build *.egg-info
