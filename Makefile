# The two set-up commands of the README: `make plan` and `make test`. Each installs what it needs.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
STACK ?= prod
STAMP := $(VENV)/.installed

.PHONY: plan test bench bench-plan system-deps install clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	# Editable, so `python -m pulumi.dynamic` can import the pickled provider classes (docs/platform-notes.md §1).
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Debian's servers for the tests that need a real one: Postfix (relays, warmup submission), Dovecot
# (reports, warmup, hygiene), OpenSSH (service operations), Chromium (status page), restic (backups).
# Postfix is preseeded "No configuration" and policy-rc.d keeps package scripts from starting any
# system instance: the tests start their own, on loopback only.
SYSTEM_BINS := /usr/sbin/postfix /usr/sbin/dovecot /usr/sbin/sshd /usr/bin/chromium /usr/bin/restic
SYSTEM_PKGS := postfix dovecot-imapd dovecot-lmtpd openssh-server chromium restic

system-deps:
	@missing=""; for b in $(SYSTEM_BINS); do [ -x "$$b" ] || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "missing:$$missing; not root on Debian, so install $(SYSTEM_PKGS) yourself, or those tests fail" >&2; exit 0; fi; \
	created=""; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created=1; fi; \
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PKGS) >/dev/null; rc=$$?; \
	if [ -n "$$created" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc

plan: $(STAMP)
	$(VENV)/bin/coldmail plan --stack $(STACK)

test: $(STAMP) system-deps
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/pytest -q

bench: $(STAMP)
	$(PY) benchmarks/converge.py
	$(PY) benchmarks/checks.py

# `coldmail plan` on 170 domains / 500 mailboxes / 3 servers against the SDK's own registration cost.
bench-plan: $(STAMP)
	$(PY) benchmarks/plan.py

clean:
	rm -rf $(VENV) .coldmail build *.egg-info
