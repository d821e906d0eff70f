"""Albums: the person's own (photos put in by hand) and smart ones (a saved query, its photos found again
after each index by engine.albums)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from engine.catalog.part import CatalogPart
from engine.catalog.rows import AlbumRow


class Albums(CatalogPart):
    """`catalog.albums`: albums, their photos and counts."""

    _COLUMNS = ("SELECT a.id, a.name, a.kind, a.query, a.model_id, "
                "(SELECT COUNT(*) FROM album_photos m JOIN photos p ON p.id = m.photo_id "
                " WHERE m.album_id = a.id AND p.status != 'missing') FROM albums a")

    def create(self, name: str, kind: str = "manual", query: str | None = None) -> int:
        cur = self.conn.execute("INSERT INTO albums(name, kind, query, created_at) VALUES (?, ?, ?, ?)",
                                (name, kind, query, time.time()))
        return int(cur.lastrowid or 0)

    def named(self, name: str) -> AlbumRow | None:
        row = self.conn.execute(f"{self._COLUMNS} WHERE a.name = ? COLLATE NOCASE", (name,)).fetchone()
        return AlbumRow(*row) if row else None

    def all(self) -> list[AlbumRow]:
        """Every album, by name (any case), with the photos it holds that are not missing."""
        return [AlbumRow(*r) for r in self.conn.execute(f"{self._COLUMNS} ORDER BY a.name COLLATE NOCASE")]

    def add(self, album_id: int, photo_ids: Iterable[int]) -> int:
        """Put photos in an album; returns how many were not in it already."""
        before = self.conn.total_changes
        self.conn.executemany("INSERT OR IGNORE INTO album_photos(album_id, photo_id, added_at) VALUES (?, ?, ?)",
                              [(album_id, int(p), time.time()) for p in photo_ids])
        return self.conn.total_changes - before

    def remove(self, album_id: int, photo_ids: Iterable[int]) -> int:
        before = self.conn.total_changes
        self.conn.executemany("DELETE FROM album_photos WHERE album_id = ? AND photo_id = ?",
                              [(album_id, int(p)) for p in photo_ids])
        return self.conn.total_changes - before

    def set_photos(self, album_id: int, photo_ids: Sequence[int], model_id: str | None) -> None:
        """A smart album's photos, found again (the model they were found with)."""
        self.conn.execute("DELETE FROM album_photos WHERE album_id = ?", (album_id,))
        self.add(album_id, photo_ids)
        self.conn.execute("UPDATE albums SET model_id = ? WHERE id = ?", (model_id, album_id))

    def delete(self, album_id: int) -> None:
        self.conn.execute("DELETE FROM albums WHERE id = ?", (album_id,))

    def rename(self, album_id: int, name: str) -> None:
        self.conn.execute("UPDATE albums SET name = ? WHERE id = ?", (name, album_id))

    def photo_ids(self, album_id: int) -> list[int]:
        return [int(r[0]) for r in self.conn.execute(
            "SELECT photo_id FROM album_photos WHERE album_id = ? ORDER BY added_at, photo_id", (album_id,))]

    def memberships(self) -> list[tuple[int, str]]:
        """(photo id, album name) of every photo in every album: the fine-tuning's album labels."""
        return [(int(p), str(n)) for p, n in self.conn.execute(
            "SELECT m.photo_id, a.name FROM album_photos m JOIN albums a ON a.id = m.album_id ORDER BY a.name")]

    def of_photo(self, photo_id: int) -> list[str]:
        return [str(r[0]) for r in self.conn.execute(
            "SELECT a.name FROM album_photos m JOIN albums a ON a.id = m.album_id WHERE m.photo_id = ? "
            "ORDER BY a.name COLLATE NOCASE", (photo_id,))]
