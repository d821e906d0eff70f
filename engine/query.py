"""Query arithmetic: weighted text and image terms added and subtracted.

    beach + ./this.jpg - people        "kids on a beach" - 0.5:"crowd"        2:sunset + id:1234

Terms are separated by `+` or `-` standing alone (spaces around them, or before a quote); `-` inside
words such as "t-shirt" stays text. A term is an image when it names an existing image file (or starts
with ./ ../ ~/ or /), a catalog photo when written `id:N`, and text otherwise. `W:` in front of a term
weights it (default 1, at most 100). `person:Anna` (or `person:"Anna Smith"`) keeps only photos of that
person, `- person:Anna` leaves them out; person terms filter, they carry no weight.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import QueryError
from engine.imageio import is_photo_name

_WEIGHT = re.compile(r"^(\d+(?:\.\d+)?|\.\d+):(?!//)(.+)$", re.DOTALL)
_PHOTO = re.compile(r"^id:(\d{1,18})$")  # beyond 18 digits no SQLite id
_PERSON = re.compile(r"^person:(.*)$", re.IGNORECASE | re.DOTALL)
MAX_WEIGHT = 100.0  # beyond it float32 sums overflow or one term drowns the rest to nothing useful


@dataclass(frozen=True)
class Term:
    kind: str  # "text" | "image" | "photo" | "person"
    value: str  # text, file path, photo id, or person name
    weight: float  # signed

    @property
    def photo_id(self) -> int:
        return int(self.value)


def _split(query: str) -> list[tuple[int, str]]:
    """(sign, raw term) pairs, honouring double quotes."""
    parts: list[tuple[int, str]] = []
    sign, buf, quoted = 1, [], False
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c == '"':
            quoted = not quoted
            buf.append(c)
        elif not quoted and c in "+-" and (i == 0 or query[i - 1].isspace() or not "".join(buf).strip()) \
                and (i + 1 == n or query[i + 1].isspace() or query[i + 1] == '"'):
            if "".join(buf).strip():
                parts.append((sign, "".join(buf).strip()))
            elif parts or c == "+":
                pass
            sign, buf = (1 if c == "+" else -1), []
        else:
            buf.append(c)
        i += 1
    if quoted:
        raise QueryError("unbalanced quote in query")
    if "".join(buf).strip():
        parts.append((sign, "".join(buf).strip()))
    return parts


def _looks_like_path(text: str) -> bool:
    if text.startswith(("./", "../", "~/", "/")) or (os.name == "nt" and re.match(r"^[A-Za-z]:[\\/]", text)):
        return True
    return is_photo_name(text) and os.path.isfile(os.path.expanduser(text))


def parse_query(query: str) -> list[Term]:
    terms: list[Term] = []
    for sign, raw in _split(query.strip()):
        weight = 1.0
        person = _PERSON.match(raw)
        if person:
            name = person.group(1).strip()
            name = name[1:-1].strip() if len(name) >= 2 and name[0] == name[-1] == '"' else name
            if not name:
                raise QueryError("person: needs a name, e.g. person:Anna or person:\"Anna Smith\"")
            terms.append(Term("person", name, float(sign)))
            continue
        m = _WEIGHT.match(raw)
        if m:
            weight, raw = float(m.group(1)), m.group(2).strip()
            if not weight <= MAX_WEIGHT:
                raise QueryError(f"weight {m.group(1)[:20]}{'...' if len(m.group(1)) > 20 else ''} is too large; "
                                 f"a term's weight is at most {MAX_WEIGHT:g}")
        unquoted = raw[1:-1].strip() if len(raw) >= 2 and raw[0] == raw[-1] == '"' else None
        text = unquoted if unquoted is not None else raw
        if not text:
            continue
        if unquoted is None and _PHOTO.match(text):
            terms.append(Term("photo", _PHOTO.match(text).group(1), sign * weight))  # type: ignore[union-attr]
        elif _looks_like_path(text):
            path = Path(text).expanduser()
            if not path.is_file():
                raise QueryError(f"image not found: {text}")
            terms.append(Term("image", str(path), sign * weight))
        else:
            terms.append(Term("text", text, sign * weight))
    if not terms:
        raise QueryError("empty query")
    if all(t.weight <= 0 for t in terms):
        raise QueryError("a query needs at least one positive term")
    return terms
