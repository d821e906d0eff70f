#!/usr/bin/env bash
# A screenshot of the packaged app's real window (docs/screenshot-packaged-app.png): the built executable on an
# X server of its own (Xvfb, 1280x800), xcb platform, a search typed into it, the screen grabbed with xwd.
#
#   .venv/bin/python bench/packaged_app.py --model starter --keep /tmp/photosift-shot   # an indexed library
#   scripts/screenshot_packaged_app.sh /tmp/photosift-shot ["a cat"] [dist/Photosift/photosift] [OUT.png]
#
# Needs: apt-get install -y xvfb x11-apps netpbm xdotool libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="$(cd "${1:?the folder bench/packaged_app.py --keep made}" && pwd)"
query="${2:-a cat}"
app="${3:-dist/Photosift/photosift}"
out="${4:-docs/screenshot-packaged-app.png}"

display=57  # a display number of our own, not one another X server holds
while [[ -e "/tmp/.X$display-lock" ]]; do display=$((display + 1)); done
Xvfb ":$display" -screen 0 1280x800x24 -nolisten tcp &
xvfb=$!
app_pid=""
cleanup() { [[ -n "$app_pid" ]] && kill "$app_pid" 2>/dev/null; kill "$xvfb" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
export DISPLAY=":$display" QT_QPA_PLATFORM=xcb
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done

log="$(mktemp)"
env PHOTOSIFT_LIBRARY="$work/library" PHOTOSIFT_MODELS="$work/models" PHOTOSIFT_CACHE="$work/cache" \
    HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" PHOTOSIFT_QUIT_AFTER_SHOWN=60 \
    "$app" >"$log" 2>&1 &
app_pid=$!
for _ in $(seq 600); do grep -q "window shown" "$log" && break; sleep 0.1; done
grep -q "window shown" "$log" || { cat "$log" >&2; echo "the window did not show" >&2; exit 1; }
win="$(xdotool search --sync --onlyvisible --name Photosift | head -n 1)"
xdotool windowmove "$win" 0 0 windowsize "$win" 1280 800
sleep 2  # thumbnails load
xdotool windowactivate --sync "$win" 2>/dev/null || xdotool windowfocus --sync "$win"
xdotool key --window "$win" ctrl+f 2>/dev/null || true
xdotool type --delay 40 "$query"
xdotool key Return
sleep 4  # the search runs, its thumbnails paint
tmp="$(mktemp --suffix .xwd)"
xwd -root -silent -out "$tmp"
xwdtopnm "$tmp" 2>/dev/null | pnmtopng > "$out"
rm -f "$tmp" "$log"
echo "$out"
