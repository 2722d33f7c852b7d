# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install demo test test-browser test-adversarial test-all lint bench-platform clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m moesaic.cli demo

test: install
	$(PY) -m pytest -q

# Browser smoke tests: Playwright (requirements-browser.txt) driving Debian's /usr/bin/chromium; never downloads a browser.
BROWSER_STAMP := $(VENV)/.browser-stamp
$(BROWSER_STAMP): requirements-browser.txt $(STAMP)
	$(PY) -m pip install -q -r requirements-browser.txt
	touch $(BROWSER_STAMP)

test-browser: $(BROWSER_STAMP)
	$(PY) -m pytest -q -m browser tests/browser

# The adversarial tier: schemathesis (requirements-adversarial.txt) over the live OpenAPI schema, a few minutes.
ADVERSARIAL_STAMP := $(VENV)/.adversarial-stamp
$(ADVERSARIAL_STAMP): requirements-adversarial.txt $(STAMP)
	$(PY) -m pip install -q -r requirements-adversarial.txt
	touch $(ADVERSARIAL_STAMP)

test-adversarial: $(ADVERSARIAL_STAMP)
	$(PY) -m pytest -q -m adversarial tests/security/test_schemathesis.py

test-all: install
	$(PY) -m pytest -q -m "not gpu and not browser and not adversarial"

lint: install
	$(PY) -m pip install -q mypy
	$(PY) -m mypy platform/moesaic apps

clean:
	rm -rf $(VENV) .moesaic
