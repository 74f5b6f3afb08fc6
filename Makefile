# orthanc-client: every entry point a contributor needs. `make test` and `make demo` install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
SPEC ?=

.PHONY: help install install-orthanc venv test check lint typecheck generate check-generated openapi demo cluster-demo bench clean

help:
	@echo "make demo      start a local Orthanc, upload/find/download a generated study, print a report"
	@echo "make test      install everything (Debian orthanc, a trixie/bookworm chroot, the venv) and run all checks"
	@echo "make generate  regenerate src/orthanc_client/_generated (SPEC=path adds a newer Orthanc's spec)"
	@echo "make openapi   re-create openapi/*.json from the installed Orthanc binaries"
	@echo "make cluster-demo  a 2-node Orthanc cluster on PostgreSQL: spread upload, a node crash, jobs per node"
	@echo "make bench     benchmarks against pyorthanc and plain httpx, printed as a table"

install: install-orthanc venv

install-orthanc:
	bash tools/install-orthanc.sh all

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,dicom,cli,bench]'

generate: venv
	$(PY) -m generator $(if $(SPEC),--spec $(SPEC))
	$(PY) tools/unasync.py

check-generated: venv
	$(PY) -m generator --check
	$(PY) tools/unasync.py --check

lint: venv
	$(BIN)/ruff check src tests generator tools bench examples

typecheck: venv
	$(BIN)/mypy src/orthanc_client

check: check-generated lint typecheck

test: install check
	$(PY) -m pytest -q -ra --durations=15

openapi: install-orthanc venv
	bash tools/dump-openapi.sh

demo: install
	$(PY) examples/demo.py

cluster-demo: install
	$(PY) examples/cluster_demo.py

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
