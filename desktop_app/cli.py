"""The `photosift` command: subcommands for the library, search, models, evaluation and training.

Library code raises typed errors; this is the one place that turns them into a line for people and an
exit code. With no subcommand (or only a folder) the desktop window opens.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.errors import Cancelled, PhotosiftError
from engine.paths import default_library_dir

# Each module defines register(subparsers) and sets `func(args) -> int` on its parsers.
COMMAND_MODULES = ("library", "search", "models", "evaluate", "train", "doctor")
EXIT_ERROR = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="photosift", description="Search and browse your photo library.")
    parser.add_argument("--library", type=Path, default=None,
                        help="library folder (default: $PHOTOSIFT_LIBRARY or the per-user data folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"desktop_app.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"desktop_app.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    known = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()  # type: ignore[union-attr]
    if not any(a in known for a in argv) and not any(a in ("-h", "--help") for a in argv):
        return _open_window(parser, argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    args.library = args.library or default_library_dir()
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        print("photosift: cancelled; work done so far is kept", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("photosift: interrupted; work done so far is kept, run the command again to continue",
              file=sys.stderr)
        return 130
    except PhotosiftError as e:
        print(f"photosift: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as e:
        print(f"photosift: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_ERROR


def _open_window(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    opts = argparse.ArgumentParser(prog="photosift", add_help=False)
    opts.add_argument("--library", type=Path, default=None)
    opts.add_argument("folders", nargs="*", type=Path)
    args, rest = opts.parse_known_args(argv)
    if rest:
        parser.print_usage(sys.stderr)
        print(f"photosift: error: unknown arguments: {' '.join(rest)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        from desktop_app.app import run_app
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("desktop_app"):
            parser.print_help()
            return EXIT_USAGE
        print(f"photosift: error: the desktop window needs {e.name}; install Photosift with its GUI",
              file=sys.stderr)
        return EXIT_ERROR
    return run_app(args.library or default_library_dir(), args.folders)


if __name__ == "__main__":
    raise SystemExit(main())
