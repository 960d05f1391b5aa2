# ads-actions: `make run` shows the pipeline working, `make test` runs the whole suite.
# Every target installs what it needs first (apt packages, then the virtualenv), idempotently.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the project uses at run or test time: rsyslog and snmptrapd are the real
# receivers of the demo and the tests, smitools lints the MIB, jq reads JSON events in the demo
# script, shellcheck checks the shipped scripts; dumpcap, mergecap, editcap, capinfos (wireshark-common),
# tcpdump and tshark record and read traffic captures.
APT_PACKAGES := python3-venv python3-dev prometheus rsyslog rsyslog-gnutls snmptrapd snmp smitools jq shellcheck \
	tcpdump tshark wireshark-common
APT_STAMP := $(VENV)/.apt-$(shell echo $(APT_PACKAGES) | md5sum | cut -c1-8)
PIP_STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test bench check-config clean

install: $(APT_STAMP) $(PIP_STAMP)

# Installs only the packages dpkg does not already have, so a second run costs one dpkg query.
$(APT_STAMP):
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  echo 'wireshark-common wireshark-common/install-setuid boolean false' | $(SUDO) debconf-set-selections && \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	@touch $@

$(PIP_STAMP): pyproject.toml $(APT_STAMP) deploy/mibs/fetch_ietf_mibs.py
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	# IETF base MIBs (SNMPv2-SMI...) for linting and compiling deploy/mibs: Debian ships none.
	$(BIN)/python deploy/mibs/fetch_ietf_mibs.py $(VENV)/share/ietf-mibs
	@touch $@

run: install
	$(BIN)/ads-actions demo -c examples/actions.yaml

test: install
	$(BIN)/python -m pytest -q -ra

bench: install
	$(BIN)/python bench/router.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/reports.py

check-config: install
	$(BIN)/ads-actions check-config examples/actions.yaml

clean:
	rm -rf $(VENV) build *.egg-info var
