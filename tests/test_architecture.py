"""The layering rules of ARCHITECTURE.md, checked on every run."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_engine_and_cli_search_path_never_import_torch_or_qt():
    code = (
        "import sys, engine.search, engine.update, engine.tagging, desktop_app.cli, desktop_app.commands.search\n"
        "from desktop_app.cli import build_parser; build_parser()\n"
        "bad = sorted(m for m in ('torch', 'open_clip', 'PySide6', 'timm', 'transformers') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_import_linter_contracts():
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0 and "Contracts: 2 kept, 0 broken" in r.stdout, r.stdout + r.stderr
