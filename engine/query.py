"""Query arithmetic: weighted text and image terms added and subtracted.

    beach + ./this.jpg - people        "kids on a beach" - 0.5:"crowd"        2:sunset + id:1234

Terms are separated by `+` or `-` standing alone (spaces around them, or before a quote); `-` inside
words such as "t-shirt" stays text. A term is an image when it names an existing image file (or starts
with ./ ../ ~/ or /), a catalog photo when written `id:N`, and text otherwise. `W:` in front of a term
weights it (default 1, at most 100). `person:Anna` (or `person:"Anna Smith"`) keeps only photos of that
person, `- person:Anna` leaves them out; person terms filter, they carry no weight.

Terms are balanced before they are added (`balanced_weights`): an image term's cosines to photos spread
over a far wider range than a text term's (CLIP's modality gap: photo-photo cosines run 0.3-1.0, text-photo
0.1-0.3), so summed as they are, the image decides alone (`dog + ./cat.jpg` ranked the cat at 0.68 and the
dog at 0.23, and `./cat.jpg - cat` still put the cat first). Each term is rescaled so that over the library
its typical photo scores 0 and its best match 1; as the rescaling is linear in the photo's vector, the
balanced terms still add up to ONE query vector, which the vector index searches as before.

`place:NAME` is a filter, not a term to match: only photos taken there (engine.places: any level, case and
accents aside; `place:"New York"` for names with spaces; `place:"Japan > Kyoto"` level by level).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import QueryError
from engine.imageio import is_photo_name
from engine.places import place_spec_keys

_WEIGHT = re.compile(r"^(\d+(?:\.\d+)?|\.\d+):(?!//)(.+)$", re.DOTALL)
_PHOTO = re.compile(r"^id:(\d{1,18})\Z")  # beyond 18 digits no SQLite id
_PLACE = re.compile(r"^place:(.*)$", re.IGNORECASE | re.DOTALL)
_PERSON = re.compile(r"^person:(.*)$", re.IGNORECASE | re.DOTALL)
MAX_WEIGHT = 100.0  # beyond it float32 sums overflow or one term drowns the rest to nothing useful


@dataclass(frozen=True)
class Term:
    kind: str  # "text" | "image" | "photo" | "place" | "person" (place and person filter: see above)
    value: str  # text, file path, photo id, place name or person name
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


_PLACE_ANYWHERE = re.compile(r'(?:(?<=\s)|^)place:("[^"]*"|[^\s"]+)', re.IGNORECASE)


def _pull_places(query: str) -> tuple[str, list[Term]]:
    """`place:` filters written anywhere ("beach place:Lisbon"), taken out of the query; quoted text is left."""
    places: list[Term] = []
    rest, last = [], 0
    for m in _PLACE_ANYWHERE.finditer(query):
        before = query[:m.start()]
        if before.count('"') % 2:
            continue  # inside a quoted phrase: just words
        lead = before.rstrip()
        sign = -1.0 if lead.endswith("-") and (len(lead) == 1 or lead[-2].isspace()) else 1.0
        places.append(_place_term(m.group(1), sign))
        rest.append(query[last:m.start()])
        last = m.end()
    rest.append(query[last:])
    return "".join(rest), places


def parse_query(query: str) -> list[Term]:
    query, terms = _pull_places(query)
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
        place = _PLACE.match(text) if unquoted is None else None
        if place is not None:
            terms.append(_place_term(place.group(1), sign * weight))
        elif unquoted is None and _PHOTO.match(text):
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
    if sum(t.kind == "place" for t in terms) > 1:
        raise QueryError("a query takes one place: term (for a region or country, name that instead)")
    if all(t.weight <= 0 for t in terms if t.kind != "place") and any(t.kind != "place" for t in terms):
        raise QueryError("a query needs at least one positive term")
    return terms


MIN_SPREAD = 1e-3  # a term whose best match is no better than its typical photo says nothing: leave it as is


def balanced_weights(weights: Sequence[float], typical: Sequence[float], best: Sequence[float]) -> np.ndarray:
    """Each term's weight divided by its spread over the library (its best match's score minus its
    typical photo's), so that every term moves the ranking as much as its weight says, whatever its
    modality. typical/best: each term's mean score over a library sample and its top score.

    sum_i w_i * (v_i.x - typical_i) / spread_i ranks photos x exactly as (sum_i w_i / spread_i * v_i).x
    does: the constant drops out. One term alone keeps its direction (only the length changes)."""
    w = np.asarray(weights, np.float64)
    spread = np.asarray(best, np.float64) - np.asarray(typical, np.float64)
    if len(w) < 2 or not np.all(np.isfinite(spread)) or np.any(spread < MIN_SPREAD):
        return w
    return w / spread

def _place_term(value: str, weight: float) -> Term:
    name = value.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].strip()
    if weight < 0:
        raise QueryError(f"place:{name} filters the results; it cannot be subtracted")
    try:
        place_spec_keys(name)
    except ValueError as e:
        raise QueryError(str(e)) from None
    return Term("place", name, weight)


def split_places(terms: list[Term]) -> tuple[list[Term], str | None]:
    """The terms to match, and the place a `place:` term asks for (None when there is none)."""
    places = [t.value for t in terms if t.kind == "place"]
    return [t for t in terms if t.kind != "place"], (places[0] if places else None)
