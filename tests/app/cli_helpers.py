"""The CLI run in this process, as the command-line tests drive it, and the shape its refusals must have."""

import os
from pathlib import Path

from desktop_app.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    assert err.startswith("photosift: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def library_dir() -> Path:
    return Path(os.environ["PHOTOSIFT_LIBRARY"])
