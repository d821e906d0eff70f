#!/usr/bin/env bash
# Build the packaged app: a one-folder PyInstaller build in dist/Photosift/ whose executable
# dist/Photosift/photosift is the `photosift` command (with no arguments, the window), with the starter model
# inside, a .desktop file and an icon, and dist/Photosift-<version>-<os>-<arch>.tar.gz of the folder.
#
#   scripts/build_app.sh [STARTER_ARCHIVE]
#
# The starter model: photosift-starter-<version>.tar.gz with its .sha256 beside it, as scripts/build_starter.py
# writes them (that script needs the training extra; the app does not). Taken from the argument, else from
# $STARTER_ARCHIVE, else from dist/models/ (build_starter.py's default output), else packed from an already
# built starter folder named by $STARTER_FOLDER. It goes to dist/Photosift/models/, the folder beside the
# executable where the app looks for its own copy (training.prebuilt.packaged_model_dirs) and installs it on
# the first run, offline and without torch. With none of these the build stops, unless NO_STARTER=1.
#
# The build venv ($APP_VENV, default build/app-venv, made with $PYTHON, default python3) holds only the runtime,
# `pip install .` without extras, with ONNX Runtime's CPU build in place of onnxruntime-gpu (packaging/
# requirements.py), and PyInstaller. Whoever wants the GPU build installs Photosift with pip instead
# (`pip install photosift` pulls onnxruntime-gpu on Linux and Windows x86_64).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
PYTHON="${PYTHON:-python3}"
APP_VENV="${APP_VENV:-build/app-venv}"
STARTER_ARCHIVE="${1:-${STARTER_ARCHIVE:-}}"
DIST="$ROOT/dist"
APP="$DIST/Photosift"

step() { printf '\n== %s\n' "$*"; }
case "$(uname -s)" in
    Linux) os=linux; bin=bin; exe=photosift ;;
    Darwin) os=macos; bin=bin; exe=photosift ;;
    MINGW*|MSYS*|CYGWIN*) os=windows; bin=Scripts; exe=photosift.exe ;;
    *) echo "build_app.sh: unsupported system $(uname -s)" >&2; exit 2 ;;
esac
arch="$(uname -m)"; [[ "$arch" == "AMD64" ]] && arch=x86_64; [[ "$arch" == "arm64" ]] && arch=aarch64
version="$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"

# -- the starter archive, found before anything long runs ---------------------------------------------------
if [[ -z "$STARTER_ARCHIVE" ]]; then
    shopt -s nullglob
    found=("$DIST"/models/photosift-starter-*.tar.gz)
    shopt -u nullglob
    if (( ${#found[@]} )); then
        STARTER_ARCHIVE="${found[-1]}"
    elif [[ -n "${STARTER_FOLDER:-}" ]]; then
        step "packing the starter folder $STARTER_FOLDER (scripts/build_starter.py --from)"
        "$PYTHON" scripts/build_starter.py --from "$STARTER_FOLDER" --out "$DIST/models"
        STARTER_ARCHIVE="$(ls -1 "$DIST"/models/photosift-starter-*.tar.gz | tail -n 1)"
    fi
fi
if [[ -n "$STARTER_ARCHIVE" ]]; then
    [[ -f "$STARTER_ARCHIVE" && -f "$STARTER_ARCHIVE.sha256" ]] || {
        echo "build_app.sh: $STARTER_ARCHIVE or its .sha256 is missing" >&2; exit 1; }
    sha256check() { if command -v sha256sum >/dev/null; then sha256sum -c --quiet "$1"; else shasum -a 256 -c -s "$1"; fi; }
    (cd "$(dirname "$STARTER_ARCHIVE")" && sha256check "$(basename "$STARTER_ARCHIVE").sha256") || {
        echo "build_app.sh: $STARTER_ARCHIVE does not match its .sha256" >&2; exit 1; }
elif [[ "${NO_STARTER:-0}" != 1 ]]; then
    echo "build_app.sh: no starter archive: give one (argument or STARTER_ARCHIVE), build one with" \
         "scripts/build_starter.py, or set NO_STARTER=1 to build an app without its offline model" >&2
    exit 1
fi

# -- the build venv: the runtime alone, CPU ONNX Runtime, PyInstaller -----------------------------------------
step "build venv $APP_VENV (runtime only, CPU onnxruntime, pyinstaller)"
mkdir -p build
[[ -x "$APP_VENV/$bin/python" ]] || "$PYTHON" -m venv "$APP_VENV"
VPY="$ROOT/$APP_VENV/$bin/python"
[[ "$APP_VENV" = /* ]] && VPY="$APP_VENV/$bin/python"
"$PYTHON" packaging/requirements.py > build/app-requirements.txt
"$VPY" -m pip install --progress-bar off -r build/app-requirements.txt "pyinstaller>=6.10"
# from a clean copy of the sources: setuptools' build/lib in the checkout could hold stale, deleted modules
rm -rf build/app-src && mkdir -p build/app-src
cp pyproject.toml README.md build/app-src/
for pkg in engine training desktop_app resources; do
    (cd "$ROOT" && find "$pkg" -name __pycache__ -prune -o -type f -print) | while read -r f; do
        mkdir -p "build/app-src/$(dirname "$f")" && cp "$f" "build/app-src/$f"; done
done
"$VPY" -m pip install --progress-bar off --no-deps --force-reinstall ./build/app-src
if "$VPY" -m pip show onnxruntime-gpu >/dev/null 2>&1; then
    echo "build_app.sh: onnxruntime-gpu is in $APP_VENV; the packaged app ships the CPU build" >&2; exit 1
fi
"$VPY" - <<'EOF'
import importlib.util, sys
heavy = [m for m in ("torch", "open_clip", "timm", "transformers", "onnx", "triton") if importlib.util.find_spec(m)]
sys.exit(f"build_app.sh: the build venv has the training side ({', '.join(heavy)})" if heavy else 0)
EOF

# -- PyInstaller ------------------------------------------------------------------------------------------------
step "pyinstaller packaging/photosift.spec"
rm -rf "$APP"
"$VPY" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$DIST" --workpath build/pyinstaller \
    packaging/photosift.spec

if [[ "$os" == linux ]] && command -v strip >/dev/null && command -v file >/dev/null; then
    # Debug sections only (symbols stay): some wheels and this Python's libpython ship them, ~70 MB of the folder
    # (numkong 44 MB -> 4, libpython 22 -> 6, usearch 10 -> 2); the code itself is untouched.
    step "strip debug sections"
    before="$(du -sm "$APP" | cut -f1)"
    find "$APP" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 | xargs -0 file | grep 'with debug_info' |
        cut -d: -f1 | while read -r lib; do strip --strip-debug "$lib"; done
    echo "$before MB -> $(du -sm "$APP" | cut -f1) MB"
fi

step "starter model, desktop entry, icon"
mkdir -p "$APP/models"
if [[ -n "$STARTER_ARCHIVE" ]]; then
    cp "$STARTER_ARCHIVE" "$STARTER_ARCHIVE.sha256" "$APP/models/"
fi
cp packaging/photosift.png packaging/photosift.desktop "$APP/"
[[ "$os" == linux ]] && cp packaging/install-desktop-entry.sh "$APP/"
"$APP/$exe" --version

step "archive"
tarball="$DIST/Photosift-$version-$os-$arch.tar.gz"
tar -C "$DIST" -czf "$tarball" Photosift
echo "$APP: $(du -sm "$APP" | cut -f1) MB unpacked; $(basename "$tarball"): $(( $(wc -c < "$tarball") / 1048576 )) MB"
