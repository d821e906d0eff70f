"""The `photosift` subcommands, and what several of them print the same way."""

from __future__ import annotations

import sys

SHOWN_UNREADABLE = 5


def report_unreadable(unreadable: dict[str, str], noun: str = "photo") -> None:
    """One stderr line naming the files a job left out because they could not be read (the first few)."""
    if not unreadable:
        return
    shown = "; ".join(f"{path} ({why})" for path, why in list(unreadable.items())[:SHOWN_UNREADABLE])
    more = f"; and {len(unreadable) - SHOWN_UNREADABLE} more" if len(unreadable) > SHOWN_UNREADABLE else ""
    print(f"Left out {len(unreadable)} {noun}(s) that could not be read: {shown}{more}", file=sys.stderr)
