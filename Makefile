# The README's two commands: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# GOV.UK Frontend, built into the package's static files (no CDN); see frontend/build.py.
STATIC := src/joinedup/web/static/govuk-frontend.min.css

.PHONY: demo test test-fast test-slow java chromium lint typecheck bench clean install docs

$(STAMP): pyproject.toml hatch_build.py src/joinedup/journeys/_ckernels.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

$(STATIC): frontend/package.json frontend/package-lock.json frontend/build.py
	npm ci --prefix frontend --no-audit --no-fund
	$(PYTHON) frontend/build.py

install: $(STAMP) $(STATIC)

demo: $(STAMP) $(STATIC)
	$(BIN)/joinedup demo --workspace demo-workspace

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

test-fast: $(STAMP) $(STATIC)
	$(BIN)/python -m pytest -m "not slow" -q

# Slow suites (Spark, browser) run as a separate marked step; exit code 5 means the
# step collected no test, which is not a failure. Spark needs a Java runtime: on a clean
# Debian machine without one, the headless JRE is installed from the Debian packages.
java:
	@if ! command -v java >/dev/null 2>&1; then \
		echo "No Java runtime found: installing default-jre-headless for Spark"; \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends \
			default-jre-headless; \
	fi
	@java -version 2>&1 | head -1 | grep -Eq '"(1[7-9]|[2-9][0-9])[."]' || \
		{ echo "Spark 4 needs Java 17 or newer; found: $$(java -version 2>&1 | head -1)"; exit 1; }

# The browser tests drive Debian's Chromium with Playwright (never a downloaded browser).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "No Chromium found: installing Debian's chromium for the browser tests"; \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends \
			chromium; \
	fi

test-slow: $(STAMP) $(STATIC) java chromium
	$(BIN)/python -m pytest -m slow -q; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

test: lint typecheck test-fast test-slow

# Regenerate docs/cli-reference.md from the command line (a test checks it is current).
docs: $(STAMP)
	$(BIN)/python tools/cli_reference.py

bench: $(STAMP)
	$(BIN)/python bench/synth.py

clean:
	rm -rf $(VENV) frontend/node_modules src/joinedup/web/static demo-workspace .mypy_cache .ruff_cache build dist
