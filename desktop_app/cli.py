"""The `photosift` command: subcommands for the library, search, models, evaluation and training.

Library code raises typed errors; this is the one place that turns them into a line for people and an
exit code. With no subcommand (or only a folder) the desktop window opens.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import logging
import os
import re
import signal
import sqlite3
import sys
import typing
from collections.abc import Sequence
from pathlib import Path

from desktop_app.commands import shown
from engine.errors import Cancelled, PhotosiftError, catalog_error
from engine.library import check_library
from engine.paths import LibraryPaths, default_library_dir

# Each module defines register(subparsers) and sets `func(args) -> int` on its parsers.
COMMAND_MODULES = ("library", "search", "albums", "duplicates", "models", "evaluate", "train", "doctor", "people")
EXIT_ERROR = 1
EXIT_USAGE = 2


def _needs_library(args: argparse.Namespace) -> bool:
    """Whether the command works on a library that must exist: all but `add` (the one that starts a library),
    `doctor` (it reports on what is there), `eval`, the `models` actions that touch no library, and `train
    --dataset` without --use. A mistyped --library must not quietly become a new, empty library."""
    if args.command in ("add", "doctor", "eval"):
        return False
    if args.command == "models":
        action = getattr(args, "models_command", None)
        return action == "use" or (action == "remove" and bool(getattr(args, "delete_vectors", False)))
    if args.command == "train":
        return not getattr(args, "dataset", None) or bool(getattr(args, "use", False))
    return True


class _VersionAction(argparse.Action):
    """`photosift --version`: the installed package's version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print Photosift's version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("photosift")
        except PackageNotFoundError:  # a source checkout used without being installed
            found = "unknown (not installed)"
        print(f"photosift {found}")  # on stdout, as argparse's own version action prints it
        parser.exit()


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser whose usage errors are one line, with "did you mean ...?" for a mistyped command, option
    or choice (instead of the usage block, which `--help` still shows)."""

    def error(self, message: str) -> typing.NoReturn:
        command = re.match(r"argument (COMMAND|ACTION): invalid choice: '([^']*)'", message)
        if command:  # the list of every command is what --help is for
            message = f"unknown {command.group(1).lower()} '{command.group(2)}'"
            hint = self._did_you_mean(message, list(self._subcommands()))
            self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint or f'; see {self.prog} --help'}\n")
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{self._did_you_mean(message)}\n")

    def _subcommands(self) -> dict[str, argparse.ArgumentParser]:
        return next((dict(a.choices) for a in self._actions if isinstance(a, argparse._SubParsersAction)), {})

    def _all_options(self) -> list[str]:
        """Long options of this parser and of every command under it (argparse reports a command's unknown
        option from the top-level parser)."""
        found = [o for o in self._option_string_actions if o.startswith("--")]
        for sub in self._subcommands().values():
            found += sub._all_options() if isinstance(sub, OneLineParser) else []
        return found

    def _did_you_mean(self, message: str, names: list[str] | None = None) -> str:
        if names is not None:
            word = message.split("'")[1]
            near = difflib.get_close_matches(word, names, n=1, cutoff=0.7)
            return f"; did you mean '{near[0]}'?" if near else ""
        options = sorted(set(self._all_options()))
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            known = re.findall(r"'([^']*)'", choice.group(2)) or [c.strip() for c in choice.group(2).split(",")]
            near = difflib.get_close_matches(choice.group(1), known, n=1, cutoff=0.5)
            return f"; did you mean {near[0]!r}?" if near else ""
        unknown = re.search(r"unrecognized arguments: (.*)", message)
        if unknown:
            for word in unknown.group(1).split():
                if word.startswith("--"):
                    near = difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.6)
                    if near:
                        return f"; did you mean {near[0]}?"
        return f"; see {self.prog} --help" if not message.startswith("the following") else ""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="photosift", description="Search and browse your photo library.")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--library", type=Path, default=None,
                        help="library folder (default: $PHOTOSIFT_LIBRARY or the per-user data folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"desktop_app.commands.{name}").register(sub)
    return parser


def _library_first(argv: list[str]) -> list[str]:
    """`--library DIR` is accepted anywhere on the line (`photosift search beach --library ~/Pics`): moved in
    front of the command, where argparse takes it. Words after `--` are left alone."""
    end = argv.index("--") if "--" in argv else len(argv)
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < end:
        a = argv[i]
        if a == "--library" and i + 1 < end:
            front += [a, argv[i + 1]]
            i += 2
            continue
        if a.startswith("--library="):
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest + argv[end:]


def main(argv: Sequence[str] | None = None) -> int:
    argv = _library_first(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    known = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()  # type: ignore[union-attr]
    first = _first_positional(argv)
    wants_help = any(a in ("-h", "--help", "--version") for a in argv)
    if not wants_help and (first is None or (first not in known and _names_a_folder(first))):
        return _open_window(parser, argv)
    # Anything else is a command line: a mistyped command gets argparse's "invalid choice" (exit 2).
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    args.library = args.library or default_library_dir()
    catalog = LibraryPaths(Path(args.library).expanduser().absolute()).catalog
    if hasattr(sys.stdout, "reconfigure"):  # a name that is not UTF-8 printed anywhere cannot end in a traceback
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        if _needs_library(args):  # refused before any work (a model built, a training run) is done
            check_library(args.library)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a pipe's reader that has gone shows here, inside the handlers below
        return code
    except Cancelled:
        return _fail("cancelled; work done so far is kept", 130)
    except KeyboardInterrupt:
        return _fail("interrupted; work done so far is kept, run the command again to continue", 130)
    except BrokenPipeError:
        # the reader has gone (`photosift tag --list | head`): stop quietly, as other command-line tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's final flush does not complain
        return 128 + signal.SIGPIPE
    except PhotosiftError as e:
        return _fail(f"error: {e}")
    except sqlite3.Error as e:
        typed = catalog_error(e, catalog)
        if typed is not e:
            return _fail(f"error: {typed}")
        denied = _denied(catalog)
        if denied:  # SQLite says only "unable to open database file"
            return _fail(f"error: permission denied: {denied}; {PERMISSION_HINT}")
        return _fail(f"error: the catalog could not be read or written ({e}); run `photosift doctor`")
    except OSError as e:
        # Only errors of the operating system (files, folders, disks) are turned into a line; an error of
        # the code itself (TypeError, KeyError...) keeps its traceback, where tests and bug reports see it.
        where = f": {os.fsdecode(e.filename)}" if e.filename else ""
        if _disk_full(e):
            return _fail(f"error: the disk is full ({e.strerror or e}{where}); free some space and run the "
                         "command again (work done so far is kept)")
        if e.errno in (errno.EACCES, errno.EPERM):
            return _fail(f"error: permission denied{where}; "
                         + (PERMISSION_HINT if where else "check the permissions of the library folder"))
        return _fail(f"error: {e.strerror or e}{where}")


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    """One stderr line (control characters escaped, so a file name cannot break it in two)."""
    print(f"photosift: {shown(message)}", file=sys.stderr)
    return code


PERMISSION_HINT = "check that your user may read and write it, and open the folders above it"


def _denied(catalog: Path) -> str | None:
    """The library folder or catalog file this process may not open (by its effective user), if any."""
    effective = os.access in os.supports_effective_ids
    for path, need in ((catalog.parent, os.R_OK | os.X_OK), (catalog, os.R_OK)):
        if os.path.exists(path) and not os.access(path, need, effective_ids=effective):
            return str(path)
    return None


def _disk_full(e: OSError) -> bool:
    # numpy's tofile/save report a short write as "N requested and M written", without an errno.
    return e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)) or (
        e.errno is None and "requested and" in str(e) and "written" in str(e))


def _first_positional(argv: list[str]) -> str | None:
    """The first argument that is not a top-level option (or an option's value)."""
    skip = False
    for i, a in enumerate(argv):
        if skip:
            skip = False
        elif a == "--":
            return argv[i + 1] if i + 1 < len(argv) else None
        elif a == "--library":
            skip = True
        elif not a.startswith("-") or a == "-":
            return a
    return None


def _names_a_folder(arg: str) -> bool:
    """`photosift FOLDER` opens the window on it; a bare word that is no folder is a mistyped command."""
    return os.path.isdir(arg) or os.sep in arg or (os.altsep or os.sep) in arg or arg.startswith("~")


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
