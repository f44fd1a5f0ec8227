# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Both create/refresh .venv; the install re-runs only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-all
DEMO_DIR := demo-output

.PHONY: demo test venv clean lint

venv: $(INSTALLED)

INSTALL_LOG := $(VENV)/install.log

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing SleepViT and its dependencies into $(VENV) (log: $(INSTALL_LOG))"
	@( $(BIN)/python -m pip install --upgrade pip \
	  && $(BIN)/python -m pip install -e '.[all]' ) > $(INSTALL_LOG) 2>&1 \
	  || { tail -n 40 $(INSTALL_LOG); exit 1; }
	touch $@

# The demo night is simulated (seed 7, never used in training) once, then scored with the
# shipped int8 model: hypnogram CSV, EDF+ annotations, NSRR XML, summary JSON and PDF report.
DEMO_NIGHT := $(DEMO_DIR)/demo-night.edf

demo: $(INSTALLED) $(DEMO_NIGHT)
	$(BIN)/sleepvit score $(DEMO_NIGHT) --out $(DEMO_DIR) --overwrite

$(DEMO_NIGHT): | $(INSTALLED)
	$(BIN)/sleepvit simulate $@ --hours 8 --seed 7 --style hospital

test: $(INSTALLED)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: $(INSTALLED)
	$(BIN)/ruff check sleepvit rendering models gui tests

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info
