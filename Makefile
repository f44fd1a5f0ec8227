# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Both build .venv from the lock file, exactly; the install re-runs only when pyproject.toml or
# the lock changes. `make lock` refreshes the lock and `make test-latest` shows what the newest
# releases would break, in a venv of their own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-all
INSTALL_LOG := $(VENV)/install.log
LOCK := requirements/lock.txt
PINS := requirements/pins.in
PIP_TOOLS := pip-tools==7.6.2
TOOLS_VENV := .venv-tools
LATEST_VENV := .venv-latest
DEMO_DIR := demo-output

.PHONY: demo test venv clean lint lock test-latest bundle screenshot

venv: $(INSTALLED)

# A fresh venv every time, so it holds the lock and nothing else; the package itself is
# installed without build isolation, built by the locked setuptools.
$(INSTALLED): pyproject.toml $(LOCK)
	$(PYTHON) -m venv --clear $(VENV)
	@echo "installing SleepViT and its locked dependencies into $(VENV) (log: $(INSTALL_LOG))"
	@( $(BIN)/python -m pip install -r $(LOCK) \
	  && $(BIN)/python -m pip install --no-deps --no-build-isolation -e . \
	  && $(BIN)/python -m pip check ) > $(INSTALL_LOG) 2>&1 \
	  || { tail -n 40 $(INSTALL_LOG); exit 1; }
	touch $@

# The demo night is simulated (seed 7, never used in training) once, then scored with the
# shipped int8 model: hypnogram CSV, EDF+ annotations, NSRR XML, summary JSON and PDF report.
DEMO_NIGHT := $(DEMO_DIR)/demo-night.edf

demo: $(INSTALLED) $(DEMO_NIGHT)
	$(BIN)/sleepvit score $(DEMO_NIGHT) --out $(DEMO_DIR) --overwrite

$(DEMO_NIGHT): | $(INSTALLED)
	$(BIN)/sleepvit simulate $@ --hours 8 --seed 7 --style hospital

# The suite on every core (pytest-xdist); modules stay whole on one worker (--dist loadscope),
# so a module's fixtures are built once. In collection order, not by size, so that the
# bundle's tests (conftest puts them first) start its minute-long build at once.
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

test: $(INSTALLED)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_PARALLEL)

# The hospital-workstation bundle dist/sleepvit/ (README, "Hospital workstations"): PyInstaller
# over the locked venv, the training stack and the peers left out.
bundle: $(INSTALLED)
	$(BIN)/python installer/build.py

# ruff, then DESIGN's import contracts (pyproject.toml [tool.importlinter]) on the package as
# installed.
lint: $(INSTALLED)
	$(BIN)/ruff check sleepvit rendering models gui tests
	$(BIN)/python tests/import_contracts.py

# Resolve the newest releases that pyproject.toml's ranges and requirements/pins.in allow.
# Every extra but `all`, which names sleepvit itself and would put this checkout's path in the lock.
LOCK_EXTRAS := train gui dev peers
lock:
	test -x $(TOOLS_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(TOOLS_VENV) \
	  && $(TOOLS_VENV)/bin/python -m pip install --quiet '$(PIP_TOOLS)'; }
	$(TOOLS_VENV)/bin/pip-compile --quiet --upgrade $(LOCK_EXTRAS:%=--extra %) --strip-extras \
	  --allow-unsafe --no-emit-index-url --no-emit-find-links --constraint $(PINS) \
	  --output-file $(LOCK) pyproject.toml

# The suite against whatever the registry serves today, without the lock.
test-latest:
	$(PYTHON) -m venv --clear $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet -e '.[all]'
	$(LATEST_VENV)/bin/python -m pip freeze > $(LATEST_VENV)/freeze.txt
	QT_QPA_PLATFORM=offscreen $(LATEST_VENV)/bin/python -m pytest -q $(PYTEST_PARALLEL)

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(LATEST_VENV) $(DEMO_DIR) build dist *.egg-info

# The README's screenshot of the real window, under a virtual X server (needs Debian's xvfb
# and the xcb libraries Qt loads; see README, Desktop app).
screenshot: $(INSTALLED)
	xvfb-run -a -s "-screen 0 1920x1080x24" $(BIN)/python -m sleepvit.gui.screenshot docs/screenshot.png --workdir $(DEMO_DIR)
