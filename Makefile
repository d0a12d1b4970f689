# trialtwin: two commands are all a user needs.
#   make run   - set up .venv and run the main job on the built-in trial (EVER-132-002)
#   make test  - set up .venv with the dev tools and run every check: ruff, mypy, import contracts, pytest
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_DEV  := $(VENV)/.installed-dev
# Browser tests (tests/browser) drive Debian's chromium through Playwright; `make test` installs it when missing.
CHROMIUM   ?= /usr/bin/chromium
# The casebook PDF draws Chinese and Korean text with a CJK fallback font (services/casebook.py); tested.
CJK_FONT   ?= /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck contracts security deps-audit sbom pytest bench clean help

help:
	@echo "make run    set up and run the main job (trialtwin run) on EVER-132-002"
	@echo "make test   set up and run ruff, mypy, import-linter and pytest"
	@echo "make bench  run the benchmark scripts (prints figures)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/trialtwin run

$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests (tests/browser)"
	$(SUDO) apt-get install -y --no-install-recommends chromium || \
	  ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium)

$(CJK_FONT):
	@echo "installing Debian's fonts-wqy-microhei for Chinese and Korean text in casebook PDFs"
	$(SUDO) apt-get install -y --no-install-recommends fonts-wqy-microhei || \
	  ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends fonts-wqy-microhei)

test: $(STAMP_DEV) $(CHROMIUM) $(CJK_FONT)
	$(MAKE) --no-print-directory lint typecheck contracts security deps-audit pytest

lint:
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools

typecheck:
	$(BIN)/mypy

contracts:
	$(BIN)/lint-imports

# Static security analysis (requirement G12/D6): medium and high findings fail; config in pyproject [tool.bandit].
security:
	$(BIN)/bandit -c pyproject.toml -r src -ll -q

# Known vulnerabilities of the installed packages (requirement G20). Offline it prints "not run" and passes.
deps-audit:
	$(BIN)/python tools/deps_audit.py

# Software bill of materials of the installed environment (CycloneDX JSON) into build/.
sbom: $(STAMP_DEV)
	@mkdir -p build
	$(BIN)/cyclonedx-py environment $(BIN)/python --output-reproducible -o build/sbom.cdx.json
	@echo "SBOM: build/sbom.cdx.json"

# The JUnit XML of every run is the validation record (requirement D2; docs/service/traceability.md).
# Two pytest-xdist workers (one test file each at a time) use both cores: about 8 minutes instead of 13.
PYTEST_WORKERS ?= 2
pytest:
	@mkdir -p build
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile --junitxml=build/junit.xml

bench: $(STAMP_DEV)
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
