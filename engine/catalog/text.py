"""Text read in photos (engine.text_in_photos): each photo's lines, and which photos hold given words.

Matching is on the folded text (case and accents do not count) and finds a word anywhere, also inside another
("lisb" finds "Lisboa", "2023" finds "12.07.2023"): an FTS5 index of trigrams, made with sqlite-utils by the
first pass that writes text. Without that index (a catalog opened read-only before any text was read, or an
SQLite built without FTS5) the same matches come from scanning the folded text, only slower.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence

from engine.catalog.part import CatalogPart
from engine.catalog.rows import Photo
from engine.place_keys import fold_key

FTS_TABLE = "photo_text_fts"
MIN_FTS_WORD = 3  # trigram tokens: a shorter word can only be found by scanning


# Letters that Unicode does not decompose into a base letter and a mark, written as people type them without
# the key ("smorrebrod" for "smørrebrød"); ß and ﬁ-style ligatures are already split by casefold and NFKD.
_UNDECOMPOSED = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})


def fold_text(text: str) -> str:
    """Text as matching sees it: place names' fold (case, accents, spacing), and the letters above as typed."""
    return fold_key(text.casefold().translate(_UNDECOMPOSED))


class PhotoTexts(CatalogPart):
    """`catalog.text`: the text read in each photo and the photos whose text holds words."""

    def photos_missing(self, model_id: str) -> list[Photo]:
        """Indexed photos (of online roots) whose text was not read with `model_id`: new, changed, or a killed
        run's."""
        return self._catalog.photos_where(
            "WHERE status = 'ok' AND missing_since IS NULL "
            "AND id NOT IN (SELECT photo_id FROM photo_text WHERE model_id = ?) "
            "AND root_id NOT IN (SELECT id FROM roots WHERE state = 'offline') ORDER BY id", (model_id,))

    def put(self, photo_id: int, model_id: str, lines: Sequence[str]) -> None:
        """A photo's text (replacing what it had): also the mark that it was read. Inside a transaction."""
        text = "\n".join(line.strip() for line in lines if line.strip())
        self.conn.execute("INSERT OR REPLACE INTO photo_text(photo_id, model_id, text, folded) VALUES (?, ?, ?, ?)",
                          (photo_id, model_id, text, fold_text(text)))

    def of_photo(self, photo_id: int) -> str | None:
        """The lines read in a photo ('' none found), None when it was not read."""
        row = self.conn.execute("SELECT text FROM photo_text WHERE photo_id = ?", (photo_id,)).fetchone()
        return str(row[0]) if row else None

    def counts(self) -> tuple[int, int]:
        """(photos read, photos in which some text was found)."""
        read, found = self.conn.execute("SELECT COUNT(*), COUNT(NULLIF(text, '')) FROM photo_text").fetchone()
        return int(read), int(found)

    def any_read(self) -> bool:
        """Whether the text of any photo was read (a `text:` filter otherwise says how to read it)."""
        return self.conn.execute("SELECT 1 FROM photo_text LIMIT 1").fetchone() is not None

    # -- the full-text index ---------------------------------------------------------------------------------
    def fts_ready(self) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (FTS_TABLE,)).fetchone() is not None

    def ensure_index(self) -> bool:
        """Make the trigram index (and the triggers that keep it up to date) if it is missing; outside any
        transaction (sqlite-utils runs a script). False when this SQLite cannot (no FTS5 or no trigram
        tokenizer, before 3.34): matching then scans."""
        if self.fts_ready():
            return True
        import sqlite_utils

        try:
            table = sqlite_utils.Database(self.conn)["photo_text"]
            table.enable_fts(["folded"], fts_version="FTS5", tokenize="trigram", create_triggers=True)  # type: ignore[union-attr]
            table.rebuild_fts()  # type: ignore[union-attr]
        except sqlite3.OperationalError:
            return False
        return True

    # -- matching ---------------------------------------------------------------------------------------------
    def photos_with_words(self, words: Sequence[str], within: Sequence[int] | None = None,
                          word_start: bool = False) -> set[int]:
        """Photos whose text holds every one of `words` (anywhere, folded), among `within` when given.
        `word_start`: each must begin a word of the text ("owl" finds "Owl Café", not "Bowling")."""
        folded = [w for w in (fold_text(w) for w in words) if w]
        if not folded:
            return set()
        where, params = self.match_sql(words)
        if not word_start:
            found = {int(r[0]) for r in self.conn.execute(f"SELECT id FROM photos WHERE {where}", params)}
        else:
            starts = [re.compile(r"(?<![^\W_])" + re.escape(w)) for w in folded]
            found = {int(pid) for pid, text in self.conn.execute(
                f"SELECT t.photo_id, t.folded FROM photo_text t JOIN photos ON photos.id = t.photo_id WHERE {where}",
                params) if all(p.search(text) for p in starts)}
        return found if within is None else found & set(within)

    def match_sql(self, words: Sequence[str]) -> tuple[str, list[object]]:
        """A WHERE clause over `photos` (its `id`) for photos whose text holds every word: the `text:` filter's
        one meaning (engine.catalog.browse)."""
        folded = [w for w in (fold_text(w) for w in words) if w]
        if not folded:
            return "1", []
        long_words = [w for w in folded if len(w) >= MIN_FTS_WORD]
        clauses: list[str] = []
        params: list[object] = []
        if long_words and self.fts_ready():
            clauses.append(f"id IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)")
            params.append(" AND ".join('"' + w.replace('"', '""') + '"' for w in long_words))
            folded = [w for w in folded if len(w) < MIN_FTS_WORD]
        for w in folded:
            clauses.append("id IN (SELECT photo_id FROM photo_text WHERE instr(folded, ?) > 0)")
            params.append(w)
        return " AND ".join(clauses), params
