"""Query arithmetic: weighted text and image terms added and subtracted.

    beach + ./this.jpg - people        "kids on a beach" - 0.5:"crowd"        2:sunset + id:1234

Terms are separated by `+` or `-` standing alone (spaces around them, or before a quote); `-` inside
words such as "t-shirt" stays text. A term is an image when it names an existing image file (or starts
with ./ ../ ~/ or /), a catalog photo when written `id:N`, and text otherwise. `W:` in front of a term
weights it (default 1, at most 100). `person:Anna` (or `person:"Anna Smith"`), anywhere in the query, keeps
only photos of that person (several: photos with all of them), `- person:Anna` leaves them out; person terms
filter, they carry no weight.

Terms are balanced before they are added (`balanced_weights`): an image term's cosines to photos spread
over a far wider range than a text term's (CLIP's modality gap: photo-photo cosines run 0.3-1.0, text-photo
0.1-0.3), so summed as they are, the image decides alone (`dog + ./cat.jpg` ranked the cat at 0.68 and the
dog at 0.23, and `./cat.jpg - cat` still put the cat first). Each term is rescaled so that over the library
its typical photo scores 0 and its best match 1; as the rescaling is linear in the photo's vector, the
balanced terms still add up to ONE query vector, which the vector index searches as before.

Filters, written anywhere in the query, narrow the photos instead of being matched: `place:NAME` (where
it was taken, engine.places: any level, case and accents aside; `place:"New York"`; `place:"Japan > Kyoto"`
level by level), `tag:NAME`, `album:NAME`, `folder:NAME` (a folder's name or path), and dates (engine.dates): `2019`,
`2019-07`, `july 2019`, `2019-07-14`, `2018..2020`, written bare or as `date:...`. A bare date among the
words is read as a filter (its words are kept on the Term, so the window's chip can give them back); quote
it ("1984") to search the words.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from engine.dates import DATE_WORDS, describe, parse_dates
from engine.errors import QueryError
from engine.imageio import is_photo_name
from engine.place_keys import place_key, place_spec_keys

_WEIGHT = re.compile(r"^(\d+(?:\.\d+)?|\.\d+):(?!//)(.+)$", re.DOTALL)
_PHOTO = re.compile(r"^id:(\d{1,18})\Z")  # beyond 18 digits no SQLite id
MAX_WEIGHT = 100.0  # beyond it float32 sums overflow or one term drowns the rest to nothing useful


FILTER_KINDS = ("place", "tag", "folder", "date", "album", "written")  # "written": a text: term


@dataclass(frozen=True)
class Term:
    kind: str  # "text" | "image" | "photo" | "person", or a filter: "place" | "tag" | "folder" | "date"
    value: str  # text, file path, photo id, person, place, tag or folder name; a date as "first..last" (ISO)
    weight: float  # signed
    words: str = ""  # a filter: the words of the query it was read from

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


_FILTER_ANYWHERE = re.compile(r'(?:(?<=\s)|^)(place|tag|folder|date|album|person|text):("[^"]*"|[^\s"]*)',
                              re.IGNORECASE)


def _quoted_at(query: str, at: int) -> bool:
    return query[:at].count('"') % 2 == 1


def _subtracted(query: str, at: int) -> bool:
    lead = query[:at].rstrip()
    return lead.endswith("-") and (len(lead) == 1 or lead[-2].isspace())


def _filter_term(kind: str, value: str, words: str, subtracted: bool) -> Term:
    name = value.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].strip()
    if kind == "person":  # several: photos with all of them; subtracted: photos without them
        if not name:
            raise QueryError('person: needs a name, e.g. person:Anna or person:"Anna Smith"')
        return Term("person", name, -1.0 if subtracted else 1.0, words)
    if kind == "text":  # words read in the photo; several text: terms: photos holding all of them
        if subtracted:
            raise QueryError(f"text:{name} filters the results; it cannot be subtracted")
        if not name.strip('"'):
            raise QueryError('text: needs words read in the photo, e.g. text:"Café Lisboa"')
        return Term("written", " ".join(name.split()), 1.0, words)
    if subtracted:
        raise QueryError(f"{kind}:{name} filters the results; it cannot be subtracted")
    if not name:
        raise QueryError(f"{kind}: needs a name, e.g. {kind}:{_EXAMPLES[kind]}")
    if kind == "place":
        try:
            place_spec_keys(name)
        except ValueError as e:
            raise QueryError(str(e)) from None
    if kind == "date":
        first, last = parse_dates(name)
        name = f"{first.isoformat()}..{last.isoformat()}"
    return Term(kind, name, 1.0, words)


_EXAMPLES = {"place": "Lisbon", "tag": "beach", "folder": "Holidays", "date": "2019-07", "album": "Summer"}


def _pull_filters(query: str) -> tuple[str, list[Term]]:
    """Filters written anywhere ("beach place:Lisbon tag:family july 2019"), taken out of the query; quoted
    text stays words."""
    filters: list[Term] = []
    rest, last = [], 0
    for m in _FILTER_ANYWHERE.finditer(query):
        if _quoted_at(query, m.start()):
            continue  # inside a quoted phrase: just words
        subtracted = _subtracted(query, m.start())
        filters.append(_filter_term(m.group(1).lower(), m.group(2), m.group(0), subtracted))
        start = query.rindex("-", 0, m.start()) if subtracted else m.start()  # its sign goes with it
        rest.append(query[last:start])
        last = m.end()
    rest.append(query[last:])
    query, rest, last = "".join(rest), [], 0
    for m in DATE_WORDS.finditer(query):
        if _quoted_at(query, m.start()) or _subtracted(query, m.start()):
            continue
        try:
            filters.append(_filter_term("date", m.group(0), m.group(0), False))
        except QueryError:
            if m.group(0).isdigit():
                continue  # a number that is no year a photo was taken in ("top 10 1066"): words
            raise
        rest.append(query[last:m.start()])
        last = m.end()
    rest.append(query[last:])
    return "".join(rest), filters


def parse_query(query: str) -> list[Term]:
    query, terms = _pull_filters(query)
    for sign, raw in _split(query.strip()):
        weight = 1.0
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
    for kind, hint in (("place", "for a region or country, name that instead"), ("tag", "one tag at a time"),
                       ("folder", "name the folder above both"), ("date", "write a range: 2018..2020"),
                       ("album", "one album at a time")):
        if len({t.value.lower() for t in terms if t.kind == kind}) > 1:
            raise QueryError(f"a query takes one {kind} ({hint})")
    matched = [t for t in terms if t.kind not in FILTER_KINDS]
    if matched and all(t.weight <= 0 for t in matched):
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

@dataclass(frozen=True)
class QueryFilters:
    """What a query's filter terms ask for (None: that filter is not in the query)."""

    place: str | None = None
    tag: str | None = None
    folder: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    album: str | None = None
    text: tuple[str, ...] = ()  # words read in the photo (text: terms), each anywhere in its text

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.place, self.tag, self.folder, self.date_from, self.album)) or bool(
            self.text)


def split_filters(terms: list[Term]) -> tuple[list[Term], QueryFilters]:
    """The terms to match (and persons), and what the filter terms ask for."""
    def one(kind: str) -> str | None:
        return next((t.value for t in terms if t.kind == kind), None)

    dates = one("date")
    first, last = (date.fromisoformat(d) for d in dates.split("..")) if dates else (None, None)
    return ([t for t in terms if t.kind not in FILTER_KINDS],
            QueryFilters(one("place"), one("tag"), one("folder"), first, last, one("album"),
                         tuple(w for t in terms if t.kind == "written" for w in t.value.split())))


def split_places(terms: list[Term]) -> tuple[list[Term], str | None]:
    """The terms to match, and the place a `place:` term asks for (None when there is none)."""
    places = [t.value for t in terms if t.kind == "place"]
    return [t for t in terms if t.kind != "place"], (places[0] if places else None)


def filter_label(term: Term) -> str:
    """A filter term (or a person term) as a chip or a note names it: "Place: Lisbon", "Date: July 2019"."""
    if term.kind == "date":
        first, last = (date.fromisoformat(d) for d in term.value.split(".."))
        return f"Date: {describe(first, last)}"
    if term.kind == "written":
        return f'Text: "{term.value}"'
    return f"{term.kind.capitalize()}: {term.value}"


MAX_NAME_WORDS = 3  # "new york city"


def _words(term: Term) -> list[str]:
    """A positive text term's words, a quoted phrase kept as one word (which names nothing); none otherwise."""
    return re.findall(r'"[^"]*"|\S+', term.value) if term.kind == "text" and term.weight > 0 else []


def _phrase_key(words: list[str]) -> str:
    phrase = " ".join(words)
    return "" if '"' in phrase else place_key(phrase.strip(".,;:!?"))


def name_candidates(terms: list[Term]) -> set[str]:
    """Every run of 1-3 plain words of the text terms, as a name key: what the library is asked whether it
    knows (a handful of indexed look-ups, rather than every name it has)."""
    keys: set[str] = set()
    for term in terms:
        words = _words(term)
        for i in range(len(words)):
            for n in range(1, MAX_NAME_WORDS + 1):
                if i + n <= len(words) and (key := _phrase_key(words[i:i + n])):
                    keys.add(key)
    return keys


def _long_enough(key: str) -> bool:
    """A single word long enough to be read as a place: three letters ("ur", "bo" are words first), or two in
    a script without letter case, where two characters make a whole name ("京都", "서울")."""
    return len(key) >= 3 or (len(key) == 2 and all(c.lower() == c.upper() for c in key))


def understand_names(terms: list[Term], places: set[str], persons: dict[str, str],
                     dated: Callable[[date, date], bool] | None = None) -> list[Term]:
    """Words of the text terms that name a place or a person the library knows ("beach lisbon", "anna at the
    lake") read as those filters, when that reading is unambiguous: the words (1-3 of them, compared as
    engine.place_keys.place_key compares names) name a place or a person but not both, and the query has no
    place of its own yet. Quoted words stay words; each understood term keeps the words it came from, and a
    text term left without words is dropped. `places`: the known place names as keys; `persons`: key -> name.
    `dated(first, last)`: whether some photo was taken then; a date written bare among other words ("cafe
    1923", not "date:1923", nor "1923" alone) that no photo was taken on is words again (a year on a sign),
    not a filter that leaves nothing."""
    has_place = any(t.kind == "place" for t in terms)
    has_words = any(t.kind == "text" and t.weight > 0 for t in terms)
    out: list[Term] = []
    understood: list[Term] = []
    for term in terms:
        if (dated is not None and has_words and term.kind == "date" and not term.words.lower().startswith("date:")
                and not dated(*(date.fromisoformat(d) for d in term.value.split("..")))):
            out.append(Term("text", term.words, 1.0))
            continue
        words = _words(term)
        if not words:
            out.append(term)
            continue
        kept: list[str] = []
        i = 0
        while i < len(words):
            for n in range(MAX_NAME_WORDS, 0, -1):
                phrase = " ".join(words[i:i + n])
                key = _phrase_key(words[i:i + n])
                if len(words) - i < n or not key:
                    continue
                is_place, is_person = key in places, key in persons
                if is_place and not is_person and not has_place and (n > 1 or _long_enough(key)):
                    understood.append(Term("place", phrase.strip(".,;:!?"), 1.0, phrase))
                    has_place = True
                elif is_person and not is_place:
                    understood.append(Term("person", persons[key], 1.0, phrase))
                else:
                    continue
                i += n
                break
            else:
                kept.append(words[i])
                i += 1
        if kept:
            out.append(Term("text", " ".join(kept), term.weight, term.words))
    result = understood + out
    matched = [t for t in result if t.kind not in FILTER_KINDS and t.kind != "person"]
    if understood and not any(t.weight > 0 for t in matched) and any(t.weight < 0 for t in matched):
        raise QueryError("a query needs at least one positive term")
    return result
