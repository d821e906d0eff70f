#!/usr/bin/env bash
# Add Photosift to the desktop's application menu (run from the unpacked Photosift folder, no root needed):
#   ./install-desktop-entry.sh            # installs for this user under ~/.local/share
#   ./install-desktop-entry.sh --remove   # takes it out again
# The menu entry runs this folder's `photosift` by its absolute path, so the folder may live anywhere.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
entry="$data/applications/photosift.desktop"
icon="$data/icons/hicolor/256x256/apps/photosift.png"
if [[ "${1:-}" == "--remove" ]]; then
    rm -f "$entry" "$icon"
    echo "removed $entry"
    exit 0
fi
mkdir -p "$(dirname "$entry")" "$(dirname "$icon")"
cp "$here/photosift.png" "$icon"
sed -e "s|^Exec=photosift |Exec=\"$here/photosift\" |" -e "s|^TryExec=photosift$|TryExec=$here/photosift|" \
    "$here/photosift.desktop" > "$entry"
command -v update-desktop-database >/dev/null && update-desktop-database "$data/applications" 2>/dev/null || true
echo "installed $entry"
