#!/usr/bin/env bash
# Installs the genuine simple-orthanc 0.9.9.6 into its own virtualenv (default: .venv-reference/), as the
# reference that tests/compat/test_simple_orthanc_reference.py compares orthanc_client.compat.simple_orthanc
# with. Separate from .venv because it needs pydicom < 3. Quick (a few seconds) and idempotent.
#
#   bash tools/install-simple-orthanc-reference.sh [VENV]
#
# 0.9.9.6's sdist ships README.MD while its setup.py reads README.md, so a plain `pip install` fails while
# building its metadata. pip still downloads and unpacks it first: --no-clean keeps that unpacked source in
# our own TMPDIR, where the README is copied under the expected name and installed from.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-reference}"
PYTHON="${PYTHON:-python3}"
VERSION="0.9.9.6"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import simple_orthanc" 2>/dev/null; then
    echo "simple-orthanc reference already in $VENV"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip setuptools wheel >/dev/null 2>&1

# Expected to fail (the README): what matters is the unpacked source it leaves behind.
TMPDIR="$work" "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-clean --no-deps \
    --no-binary :all: "simple-orthanc==$VERSION" -d "$work/download" >"$work/download.log" 2>&1 || true
source_dir="$(find "$work" -maxdepth 3 -type f -name setup.py -path '*simple-orthanc*' -printf '%h\n' | head -n 1)"
if [ -z "$source_dir" ] && compgen -G "$work/download/*.tar.gz" >/dev/null; then
    tar -xzf "$work"/download/*.tar.gz -C "$work"   # a pip that saved the sdist anyway
    source_dir="$(find "$work" -maxdepth 2 -type f -name setup.py -printf '%h\n' | head -n 1)"
fi
if [ -z "$source_dir" ]; then
    cat "$work/download.log" >&2
    echo "could not fetch simple-orthanc $VERSION's source" >&2
    exit 1
fi
if [ -f "$source_dir/README.MD" ] && [ ! -f "$source_dir/README.md" ]; then
    cp "$source_dir/README.MD" "$source_dir/README.md"
fi
if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check "$source_dir" "pydicom<3" >"$work/install.log" 2>&1; then
    cat "$work/install.log" >&2
    exit 1
fi
"$VENV/bin/python" -c "import simple_orthanc, pydicom; print('simple-orthanc reference installed in $VENV (pydicom', pydicom.__version__ + ')')"
