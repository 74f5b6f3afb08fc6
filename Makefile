# orthanc-client: every entry point a contributor needs. `make test` and `make demo` install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
SPEC ?=
# every published Orthanc release's OpenAPI spec (orthanc-X.Y.Z.json), the source of openapi/history/since.json
HISTORY ?= ../shared/orthanc-openapi-history

.PHONY: help install install-orthanc install-reference venv test check lint typecheck layers generate check-generated history history-check openapi demo cluster-demo bench clean docs docs-serve docs-test

help:
	@echo "make demo      start a local Orthanc, upload/find/download a generated study, print a report"
	@echo "make test      install everything (Debian orthanc, a trixie/bookworm chroot, the venv) and run all checks"
	@echo "make generate  regenerate src/orthanc_client/_generated (SPEC=path adds a newer Orthanc's spec)"
	@echo "make openapi   re-create openapi/*.json from the installed Orthanc binaries"
	@echo "make history   re-derive openapi/history/since.json from every release's spec (HISTORY=dir)"
	@echo "make cluster-demo  a 2-node Orthanc cluster on PostgreSQL: spread upload, a node crash, jobs per node"
	@echo "make bench     benchmarks against pyorthanc and plain httpx, printed as a table"
	@echo "make docs      build the documentation site into site/ (strict: a broken link or reference fails)"
	@echo "make docs-serve  preview the documentation site"
	@echo "make docs-test run every Python example of README.md, docs/ and the docstrings against a real Orthanc"
	@echo "make check     generated code, unasync twins, ruff, mypy --strict and the import-linter layers (make layers)"

install: install-orthanc venv install-reference

# The genuine simple-orthanc, for the tests that compare the compat layer with it: a download from the
# package index, so a failure (offline) only makes those tests skip, with the reason, instead of stopping here.
install-reference:
	-bash tools/install-simple-orthanc-reference.sh

install-orthanc:
	bash tools/install-orthanc.sh all

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,dicom,cli,bench,docs]'

generate: venv
	$(PY) -m generator $(if $(SPEC),--spec $(SPEC))
	$(PY) tools/unasync.py

history: venv
	$(PY) -m generator.history $(HISTORY)

history-check: venv
	$(PY) -m generator.history $(HISTORY) --check

check-generated: venv
	$(PY) -m generator --check
	$(PY) tools/unasync.py --check

lint: venv
	$(BIN)/ruff check src tests generator tools bench examples conftest.py docs/gen_reference.py

typecheck: venv
	$(BIN)/mypy src/orthanc_client

layers: venv
	$(BIN)/lint-imports

check: check-generated lint typecheck layers

# One pytest run for the suite and the documentation's examples (conftest.py collects README.md, docs/ and the
# docstring examples of src/orthanc_client), so its closing line counts both.
DOC_EXAMPLES := README.md docs CONTRIBUTING.md src/orthanc_client

test: install check docs
	$(PY) -m pytest -q -ra --durations=15 tests $(DOC_EXAMPLES)

docs: venv
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: venv
	$(BIN)/mkdocs serve

docs-test: install
	$(PY) -m pytest -q -ra $(DOC_EXAMPLES)

openapi: install-orthanc venv
	bash tools/dump-openapi.sh

demo: install
	$(PY) examples/demo.py

cluster-demo: install
	$(PY) examples/cluster_demo.py

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .venv-reference build dist site .pytest_cache .mypy_cache .ruff_cache
