"""Duplicate and burst groups: content signatures, which photos were checked, groups and their keepers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from engine.catalog.part import CatalogPart, in_chunks
from engine.catalog.rows import DuplicateCandidate, DuplicateGroup, NewDuplicateGroup, Photo


class Duplicates(CatalogPart):
    """`catalog.duplicates`: duplicate and burst groups and what was checked."""

    def put_signatures(self, rows: Iterable[tuple[int, str | None, bytes | None, float | None]]) -> None:
        """(photo_id, content hash, 32x32 grey thumbnail, sharpness) per photo (engine.duplicates)."""
        self.conn.executemany("UPDATE photos SET content_hash = ?, pixel_sig = ?, sharpness = ? WHERE id = ?",
                              [(h, sig, sharp, int(pid)) for pid, h, sig, sharp in rows])

    def photos_missing_signature(self, model_id: str) -> list[Photo]:
        """Indexed photos of online roots without a content hash (indexed before duplicates existed, or reused
        from a byte-identical copy)."""
        return self._catalog.photos_where(
            "WHERE status = 'ok' AND content_hash IS NULL AND missing_since IS NULL "
            "AND root_id NOT IN (SELECT id FROM roots WHERE state = 'offline') "
            "AND id IN (SELECT photo_id FROM embeddings WHERE model_id = ?) ORDER BY id", (model_id,))

    def photos_to_check(self, model_id: str) -> np.ndarray:
        """Ids of photos with a vector whose duplicate check is missing or older than their last indexing."""
        rows = self.conn.execute(
            "SELECT id FROM photos WHERE status = 'ok' AND (dup_checked IS NULL OR dup_checked < indexed_at) "
            "AND id IN (SELECT photo_id FROM embeddings WHERE model_id = ?) ORDER BY id", (model_id,)).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))

    def mark_checked(self, ids: Sequence[int], when: float) -> None:
        self.conn.executemany("UPDATE photos SET dup_checked = ? WHERE id = ?", [(when, int(i)) for i in ids])

    def reset(self) -> None:
        """Forget every group and check (the vectors they came from were replaced, e.g. a model switch)."""
        self.conn.execute("DELETE FROM duplicate_groups")
        self.conn.execute("UPDATE photos SET dup_checked = NULL WHERE dup_checked IS NOT NULL")

    def candidates(self, ids: Iterable[int]) -> dict[int, DuplicateCandidate]:
        """What the duplicate check and the keeper choice read of each photo."""
        out: dict[int, DuplicateCandidate] = {}
        id_list = sorted({int(i) for i in ids})
        for chunk, marks in in_chunks(id_list):
            for row in self.conn.execute(
                    "SELECT id, path, width, height, size, taken_at, camera, content_hash, pixel_sig, sharpness, "
                    "EXISTS (SELECT 1 FROM tags t WHERE t.photo_id = photos.id AND t.source = 'user') "
                    f"FROM photos WHERE id IN ({marks})", chunk):
                out[row[0]] = DuplicateCandidate(*row[:10], user_tagged=bool(row[10]))
        return out

    def photos_sharing_content(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        """(photo in `ids`, another photo with the same content hash) pairs."""
        pairs: list[tuple[int, int]] = []
        id_list = [int(i) for i in ids]
        for chunk, marks in in_chunks(id_list):
            pairs += self.conn.execute(
                "SELECT a.id, b.id FROM photos a JOIN photos b ON b.content_hash = a.content_hash AND b.id != a.id "
                f"WHERE a.id IN ({marks}) AND a.content_hash IS NOT NULL AND b.status = 'ok'", chunk).fetchall()
        return pairs

    def membership(self, ids: Iterable[int]) -> dict[int, int]:
        """photo id -> its group id, for those of `ids` that are in a group."""
        out: dict[int, int] = {}
        id_list = sorted({int(i) for i in ids})
        for chunk, marks in in_chunks(id_list):
            out.update(self.conn.execute(
                f"SELECT photo_id, group_id FROM duplicate_members WHERE photo_id IN ({marks})", chunk).fetchall())
        return out

    def groups(self, kind: str | None = None, *, group_ids: Iterable[int] | None = None,
               include_reviewed: bool = True) -> list[DuplicateGroup]:
        """Groups (largest first), each with its members (photo id, similarity to the keeper), keeper first."""
        where, params = ["1"], []
        if kind is not None:
            where.append("g.kind = ?")
            params.append(kind)
        if not include_reviewed:
            where.append("g.reviewed = 0")
        if group_ids is not None:
            gids = sorted({int(g) for g in group_ids})
            if not gids:
                return []
            where.append(f"g.id IN ({','.join(str(g) for g in gids)})")
        members: dict[int, list[tuple[int, float | None]]] = {}
        rows = self.conn.execute(
            "SELECT g.id, g.kind, g.keep_id, g.reason, g.keep_chosen, g.reviewed, m.photo_id, m.similarity "
            "FROM duplicate_groups g JOIN duplicate_members m ON m.group_id = g.id "
            f"WHERE {' AND '.join(where)} ORDER BY g.id, m.photo_id = g.keep_id DESC, m.similarity DESC, m.photo_id",
            params).fetchall()
        heads: dict[int, tuple] = {}
        for gid, kind_, keep, reason, chosen, reviewed, pid, sim in rows:
            heads.setdefault(gid, (gid, kind_, keep, reason, bool(chosen), bool(reviewed)))
            members.setdefault(gid, []).append((pid, sim))
        groups = [DuplicateGroup(*heads[g], members=tuple(members[g])) for g in heads]
        return sorted(groups, key=lambda g: (-len(g.members), g.id))

    def burst_members(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(photo ids, their burst's group id, its keeper id or -1) for every photo in a burst, as int64 arrays:
        the grid stacks each burst."""
        rows = self.conn.execute(
            "SELECT m.photo_id, g.id, COALESCE(g.keep_id, -1) FROM duplicate_members m "
            "JOIN duplicate_groups g ON g.id = m.group_id WHERE g.kind = 'burst'").fetchall()
        table = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy()

    def remove_from_groups(self, ids: Sequence[int]) -> set[int]:
        """Take photos out of their groups (to be checked again); returns the groups they were in."""
        groups = set(self.membership(ids).values())
        self.conn.executemany("DELETE FROM duplicate_members WHERE photo_id = ?", [(int(i),) for i in ids])
        return groups

    def prune_groups(self) -> set[int]:
        """Take out photos no longer indexed (changed and unreadable now), delete groups left with fewer than two
        photos; returns the groups whose keeper is gone."""
        self.conn.execute(
            "DELETE FROM duplicate_members WHERE photo_id IN (SELECT id FROM photos WHERE status != 'ok')")
        self.conn.execute("DELETE FROM duplicate_groups WHERE id NOT IN "
                          "(SELECT group_id FROM duplicate_members GROUP BY group_id HAVING COUNT(*) >= 2)")
        rows = self.conn.execute(
            "SELECT id FROM duplicate_groups WHERE keep_id IS NULL OR keep_id NOT IN "
            "(SELECT photo_id FROM duplicate_members WHERE group_id = duplicate_groups.id)").fetchall()
        return {r[0] for r in rows}

    def replace_groups(self, drop: Iterable[int], groups: Iterable[NewDuplicateGroup]) -> list[int]:
        """Delete the groups `drop` and insert `groups`; returns the new group ids."""
        self.conn.executemany("DELETE FROM duplicate_groups WHERE id = ?", [(int(g),) for g in drop])
        new_ids = []
        for g in groups:
            cur = self.conn.execute(
                "INSERT INTO duplicate_groups(kind, keep_id, reason, keep_chosen, reviewed) VALUES (?, ?, ?, ?, ?)",
                (g.kind, g.keep_id, g.reason, int(g.keep_chosen), int(g.reviewed)))
            gid = int(cur.lastrowid or 0)
            self.conn.executemany(
                "INSERT OR REPLACE INTO duplicate_members(photo_id, group_id, similarity) VALUES (?, ?, ?)",
                [(int(pid), gid, sim) for pid, sim in g.members])
            new_ids.append(gid)
        return new_ids

    def set_keeper(self, group_id: int, photo_id: int, reason: str, *, chosen: bool = True) -> None:
        self.conn.execute("UPDATE duplicate_groups SET keep_id = ?, reason = ?, keep_chosen = ? WHERE id = ?",
                          (photo_id, reason, int(chosen), group_id))

    def set_similarities(self, rows: Iterable[tuple[int, float | None]]) -> None:
        self.conn.executemany("UPDATE duplicate_members SET similarity = ? WHERE photo_id = ?",
                              [(sim, int(pid)) for pid, sim in rows])

    def set_reviewed(self, group_id: int, reviewed: bool = True) -> None:
        """"Keep all": the group stays, but is no longer offered for review."""
        self.conn.execute("UPDATE duplicate_groups SET reviewed = ? WHERE id = ?", (int(reviewed), group_id))

    def pixel_signatures(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The stored 32x32 grey signatures (engine.duplicates) of these photos, where they have one."""
        out: dict[int, bytes] = {}
        for chunk, marks in in_chunks(ids):
            out.update((int(r[0]), bytes(r[1])) for r in self.conn.execute(
                f"SELECT id, pixel_sig FROM photos WHERE pixel_sig IS NOT NULL AND id IN ({marks})", chunk))
        return out
