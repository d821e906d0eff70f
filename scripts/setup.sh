#!/usr/bin/env bash
# Create .venv and install Photosift with its training, faces, text-in-photos and test extras (what the whole test suite
# needs). Safe to run again. VENV=DIR installs into another folder (a throwaway copy, for instance).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Photosift needs Python 3.11 or newer")'

# pip with its own progress (no --quiet: minutes of silence look like a hang), minus two kinds of noise that
# say nothing about Photosift:
# - "Location 'file:///...' is ignored: it is neither a file nor a directory": a pip configuration (global or
#   per-user) that names local package folders lacking some packages warns once per package and folder; only
#   those exact lines are dropped from pip's stderr, every other warning and error still shows;
# - setuptools' note on editable installs ("Please be careful with folders in your working directory..."),
#   which pip 25+ relays from the build backend: ignored for that one setuptools module.
LOCATION_IGNORED="^WARNING: Location '[^']*' is ignored: it is neither a file nor a directory\.?$"
pip_install() {
    # stdout (pip's progress bars) goes straight to the terminal through fd 3; stderr goes through the filter
    { PYTHONWARNINGS="ignore::UserWarning:setuptools.command.editable_wheel" \
        "$VENV/bin/python" -m pip install "$@" 2>&1 1>&3 3>&- |
        { grep --line-buffered -v -E "$LOCATION_IGNORED" || true; } >&2; } 3>&1
}

if [ -x "$VENV/bin/python" ]; then
    echo "[1/3] $VENV exists; updating pip"
else
    echo "[1/3] creating $VENV"
    "$PY" -m venv "$VENV"
fi
pip_install --upgrade pip

echo "[2/3] installing Photosift and its runtime: ONNX Runtime, Qt, numpy (about 0.9 GB)"
pip_install -e .

echo "[3/3] installing the training, faces, text-in-photos and test extras: torch and its CUDA libraries (about 5 GB, the longest step)"
pip_install -e '.[train,faces,ocr,test]'

echo "Photosift is installed: $VENV/bin/photosift --help"
