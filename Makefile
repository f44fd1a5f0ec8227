# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Both create/refresh .venv; the install re-runs only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-all
DEMO_DIR := demo-output

.PHONY: demo test venv clean lint

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@

demo: $(INSTALLED)
	$(BIN)/sleepvit simulate $(DEMO_DIR)/demo-night.edf --hours 8 --seed 7 --style hospital
	$(BIN)/sleepvit inspect $(DEMO_DIR)/demo-night.edf

test: $(INSTALLED)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: $(INSTALLED)
	$(BIN)/ruff check sleepvit rendering models gui tests

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info
