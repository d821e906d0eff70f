"""Tags of photos: the user's own (which always win), rejections, zero-shot tags with their confidence, counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.catalog.part import CatalogPart, in_chunks
from engine.catalog.rows import MAX_TAG_LENGTH, SURE_TAG_SQL, TagRow
from engine.errors import InvalidTagError


class Tags(CatalogPart):
    """`catalog.tags`: a photo's tags and the library's tag counts."""

    def set_user(self, photo_id: int, name: str) -> None:
        """Tag a photo; the name is trimmed and must be 1-100 printable characters (InvalidTagError)."""
        self.conn.execute("INSERT OR REPLACE INTO tags(photo_id, name, source, score) VALUES (?, ?, 'user', 1.0)",
                          (photo_id, clean_tag(name)))

    def reject(self, photo_id: int, name: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO tags(photo_id, name, source, score) VALUES (?, ?, 'rejected', NULL)",
            (photo_id, clean_tag(name)))

    def put_zeroshot(self, model_id: str, photo_id: int,
                     scored: Iterable[tuple[str, float] | tuple[str, float, float | None]]) -> None:
        """Replace a photo's zero-shot tags, each (name, score) or (name, score, confidence); user and
        rejected tags always win and are kept."""
        self.conn.execute("DELETE FROM tags WHERE photo_id = ? AND source = 'zeroshot'", (photo_id,))
        self.conn.execute("UPDATE photos SET tagged_model = ? WHERE id = ?", (model_id, photo_id))
        self.conn.executemany(
            "INSERT OR IGNORE INTO tags(photo_id, name, source, score, model_id, confidence) "
            "VALUES (?, ?, 'zeroshot', ?, ?, ?)",
            [(photo_id, name, float(score), model_id, float(rest[0]) if rest and rest[0] is not None else None)
             for name, score, *rest in scored])

    def clear_zeroshot(self) -> int:
        """Delete every zero-shot tag, and so every photo's tagged_model (a switch of model re-tags); user and
        rejected tags stay."""
        self.conn.execute("UPDATE photos SET tagged_model = NULL WHERE tagged_model IS NOT NULL")
        return self.conn.execute("DELETE FROM tags WHERE source = 'zeroshot'").rowcount

    def of_photo(self, photo_id: int) -> list[tuple[str, str, float | None]]:
        rows = self.conn.execute(
            "SELECT name, source, score FROM tags WHERE photo_id = ? AND source != 'rejected' "
            "ORDER BY source = 'zeroshot', score DESC, name", (photo_id,))
        return [(n, s, sc) for n, s, sc in rows]

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT name, COUNT(*) FROM tags WHERE source != 'rejected' GROUP BY name ORDER BY 2 DESC, 1")
        return {n: int(c) for n, c in rows}

    def photo_ids_with(self, name: str) -> set[int]:
        rows = self.conn.execute(
            "SELECT photo_id FROM tags WHERE name = ? COLLATE NOCASE AND source != 'rejected'", (name,))
        return {int(r[0]) for r in rows}

    def user_tags(self) -> list[tuple[int, str]]:
        """(photo id, tag) for every tag a user gave or confirmed."""
        return [(int(p), str(n)) for p, n in self.conn.execute("SELECT photo_id, name FROM tags WHERE source = 'user'")]

    def row(self, photo_id: int, name: str) -> TagRow | None:
        """A photo's tag row as stored (rejected ones too), to put back exactly with restore_tag."""
        row = self.conn.execute("SELECT name, source, score, model_id, confidence FROM tags "
                                "WHERE photo_id = ? AND name = ?", (photo_id, name)).fetchone()
        return TagRow(*row) if row else None

    def restore(self, photo_id: int, name: str, row: TagRow | None) -> None:
        """Put a tag back as tag_row read it; None: the photo had no such tag, so it has none again."""
        with self.transaction():
            self.conn.execute("DELETE FROM tags WHERE photo_id = ? AND name = ?", (photo_id, name))
            if row is not None:
                self.conn.execute("INSERT INTO tags(photo_id, name, source, score, model_id, confidence) "
                                  "VALUES (?, ?, ?, ?, ?, ?)",
                                  (photo_id, row.name, row.source, row.score, row.model_id, row.confidence))

    def with_confidence(self, photo_id: int) -> list[TagRow]:
        """A photo's tags that are not rejected: the user's first, then by confidence and score."""
        rows = self.conn.execute(
            "SELECT name, source, score, model_id, confidence FROM tags WHERE photo_id = ? AND source != 'rejected' "
            "ORDER BY source = 'zeroshot', coalesce(confidence, 1) DESC, score DESC, name", (photo_id,))
        return [TagRow(*r) for r in rows]

    def counts_by_confidence(self, min_confidence: float) -> dict[str, tuple[int, int]]:
        """Each tag's (photos that have it for sure, photos that have it at all), most used first. For
        sure: the user's own, or a zero-shot tag at or above min_confidence (or written before
        confidences were kept). Photos are counted as the tag filter finds them: names in any case, each
        photo once (MAX: of "Frog" and "frog" the lower-case spelling names the tag)."""
        rows = self.conn.execute(
            f"SELECT MAX(name), COUNT(DISTINCT CASE WHEN {SURE_TAG_SQL} THEN photo_id END), COUNT(DISTINCT photo_id) "
            "FROM tags WHERE source != 'rejected' GROUP BY name COLLATE NOCASE ORDER BY 3 DESC, 1", (min_confidence,))
        return {n: (int(sure), int(total)) for n, sure, total in rows}

    def ids_with_user_tags(self, ids: Sequence[int]) -> set[int]:
        out: set[int] = set()
        for chunk, marks in in_chunks(ids):
            out.update(int(r[0]) for r in self.conn.execute(
                f"SELECT DISTINCT photo_id FROM tags WHERE source IN ('user', 'rejected') AND photo_id IN ({marks})",
                chunk))
        return out

    def photos_missing(self, model_id: str) -> list[int]:
        """Photos with a vector of the model but not (yet) its zero-shot tags: a run killed before tagging."""
        rows = self.conn.execute(
            "SELECT e.photo_id FROM embeddings e JOIN photos p ON p.id = e.photo_id WHERE e.model_id = ? "
            "AND (p.tagged_model IS NULL OR p.tagged_model != ?) ORDER BY e.photo_id", (model_id, model_id))
        return [int(r[0]) for r in rows]


def clean_tag(name: str) -> str:
    """A tag name trimmed of surrounding spaces; InvalidTagError when empty, too long or not printable."""
    cleaned = name.strip()
    if not cleaned:
        raise InvalidTagError("a tag needs at least one character")
    if len(cleaned) > MAX_TAG_LENGTH:
        raise InvalidTagError(f"a tag is at most {MAX_TAG_LENGTH} characters; this one has {len(cleaned)}")
    if not cleaned.isprintable():
        raise InvalidTagError(f"a tag cannot hold control characters: {cleaned!r}")
    return cleaned
