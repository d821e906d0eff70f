"""Faces, persons and the user's decisions about them.

Persons are never deleted: their ids are what decisions and names hang on."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from engine.catalog.part import CatalogPart, in_chunks
from engine.catalog.rows import FaceDecision, FaceRow, FoundFaceRow, PersonRow, Photo


class People(CatalogPart):
    """`catalog.people`: faces, persons and decisions."""

    # Persons are never deleted: their ids are what decisions and names hang on. A person's photos are those
    # with a face of the face model in use; merged persons point at the one they were merged into.

    def person_ids_matching(self, spec: str) -> list[int]:
        """Persons called `spec` (any case), else the person with that id (following merges); [] for nobody."""
        name = spec.strip()
        named = [int(r[0]) for r in self.conn.execute(
            "SELECT id FROM persons WHERE name = ? COLLATE NOCASE AND merged_into IS NULL ORDER BY id", (name,))]
        if named or not name.isdigit():
            return named
        pid, seen = int(name), set()
        while pid not in seen:
            seen.add(pid)
            row = self.conn.execute("SELECT merged_into FROM persons WHERE id = ?", (pid,)).fetchone()
            if row is None:
                return []
            if row[0] is None:
                return [pid]
            pid = int(row[0])
        return []

    def photos_missing_faces(self, face_model: str) -> list[Photo]:
        """Indexed photos (of online roots) not yet searched for faces with `face_model`: new, or a killed run."""
        return self._catalog.photos_where(
            "WHERE status = 'ok' AND missing_since IS NULL AND (faces_model IS NULL OR faces_model != ?) "
            "AND root_id NOT IN (SELECT id FROM roots WHERE state = 'offline') ORDER BY id", (face_model,))

    def put_faces(self, photo_id: int, face_model: str, faces: Sequence[FoundFaceRow]) -> None:
        """A photo's faces (replacing any it had) and the mark that it was searched; run inside a transaction."""
        self.conn.execute("DELETE FROM faces WHERE photo_id = ?", (photo_id,))
        self.conn.executemany(
            "INSERT INTO faces(photo_id, model_id, x, y, w, h, score, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(photo_id, face_model, f.x, f.y, f.w, f.h, f.score,
              np.ascontiguousarray(f.embedding, np.float32).tobytes()) for f in faces])
        self.conn.execute("UPDATE photos SET faces_model = ? WHERE id = ?", (face_model, photo_id))

    def drop_weak_faces(self, face_model: str, min_score: float) -> int:
        """Forget detections scoring under `min_score` (found before that floor was raised), except those the
        user named: their person has a name. Returns how many went."""
        cur = self.conn.execute(
            "DELETE FROM faces WHERE model_id = ? AND score < ? AND (person_id IS NULL OR person_id NOT IN "
            "(SELECT id FROM persons WHERE name IS NOT NULL))", (face_model, min_score))
        return cur.rowcount

    def faces_without_person(self, face_model: str) -> list[FaceRow]:
        return self._faces("WHERE f.model_id = ? AND f.person_id IS NULL ORDER BY f.id", (face_model,))

    def faces_of_photo(self, photo_id: int, face_model: str) -> list[FaceRow]:
        return self._faces("WHERE f.photo_id = ? AND f.model_id = ? ORDER BY f.x", (photo_id, face_model))

    def faces_of_person(self, person_id: int, face_model: str | None) -> list[FaceRow]:
        """The person's faces of one face model (None: of any)."""
        if face_model is None:
            return self._faces("WHERE f.person_id = ? ORDER BY f.id", (person_id,))
        return self._faces("WHERE f.person_id = ? AND f.model_id = ? ORDER BY f.score DESC, f.id",
                           (person_id, face_model))

    def face(self, face_id: int) -> FaceRow | None:
        rows = self._faces("WHERE f.id = ?", (face_id,))
        return rows[0] if rows else None

    def _faces(self, where: str, params: Sequence[object]) -> list[FaceRow]:
        rows = self.conn.execute(
            "SELECT f.id, f.photo_id, f.x, f.y, f.w, f.h, f.score, f.person_id, p.fingerprint, f.model_id "
            f"FROM faces f JOIN photos p ON p.id = f.photo_id {where}", params)
        return [FaceRow(*r) for r in rows]

    def face_embeddings(self, face_model: str, assigned: bool = True, chunk: int = 50_000
                        ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(face ids, person ids, embeddings) of the model's faces with (or without) a person, in chunks."""
        last = 0
        cond = "IS NOT NULL" if assigned else "IS NULL"
        while True:
            rows = self.conn.execute(
                f"SELECT id, COALESCE(person_id, 0), embedding FROM faces WHERE model_id = ? AND person_id {cond} "
                "AND id > ? ORDER BY id LIMIT ?", (face_model, last, chunk)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            ids = np.array([r[0] for r in rows], np.int64)
            persons = np.array([r[1] for r in rows], np.int64)
            vecs = np.frombuffer(b"".join(r[2] for r in rows), np.float32).reshape(len(rows), -1)
            yield ids, persons, vecs

    def set_face_persons(self, pairs: Iterable[tuple[int, int]]) -> None:
        """(face id, person id) pairs."""
        self.conn.executemany("UPDATE faces SET person_id = ? WHERE id = ?", [(p, f) for f, p in pairs])

    def clear_face_persons(self, face_model: str) -> None:
        self.conn.execute("UPDATE faces SET person_id = NULL WHERE model_id = ?", (face_model,))

    def new_person(self, name: str | None = None) -> int:
        cur = self.conn.execute("INSERT INTO persons(name, created_at) VALUES (?, ?)", (name, time.time()))
        return int(cur.lastrowid or 0)

    def new_persons(self, n: int) -> list[int]:
        return [self.new_person() for _ in range(n)]

    def person(self, person_id: int) -> PersonRow | None:
        row = self.conn.execute("SELECT id, name, hidden, merged_into FROM persons WHERE id = ?",
                                (person_id,)).fetchone()
        return PersonRow(int(row[0]), row[1], bool(row[2]), row[3]) if row else None

    def persons_named(self, name: str) -> list[int]:
        rows = self.conn.execute(
            "SELECT id FROM persons WHERE name = ? COLLATE NOCASE AND merged_into IS NULL ORDER BY id", (name,))
        return [int(r[0]) for r in rows]

    def named_persons(self) -> list[tuple[int, str]]:
        """(id, name) of every named person not merged away, by name: those a face can be moved to."""
        rows = self.conn.execute(
            "SELECT id, name FROM persons WHERE name IS NOT NULL AND merged_into IS NULL ORDER BY name COLLATE NOCASE")
        return [(int(i), n) for i, n in rows]

    def merge_targets(self) -> dict[int, int]:
        """person id -> the id it was merged into (one step; callers follow chains)."""
        rows = self.conn.execute("SELECT id, merged_into FROM persons WHERE merged_into IS NOT NULL")
        return {int(a): int(b) for a, b in rows}

    def set_person_name(self, person_id: int, name: str | None) -> None:
        self.conn.execute("UPDATE persons SET name = ? WHERE id = ?", (name, person_id))

    def set_person_hidden(self, person_id: int, hidden: bool) -> None:
        self.conn.execute("UPDATE persons SET hidden = ? WHERE id = ?", (int(hidden), person_id))

    def merge_person_rows(self, keep: int, gone: int) -> None:
        """Move everything of `gone` to `keep`: faces, decisions; `gone` remembers where it went."""
        self.conn.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", (keep, gone))
        self.conn.execute("UPDATE face_decisions SET person_id = ? WHERE person_id = ?", (keep, gone))
        self.conn.execute("UPDATE persons SET merged_into = ? WHERE merged_into = ?", (keep, gone))
        self.conn.execute("UPDATE persons SET merged_into = ? WHERE id = ?", (keep, gone))

    def summaries(self, face_model: str, include_hidden: bool = False) -> list[PersonRow]:
        """Persons with at least one face of the model: photo count and their best face, most photos first."""
        rows = self.conn.execute(
            "SELECT p.id, p.name, p.hidden, p.merged_into, COUNT(DISTINCT f.photo_id), "
            "(SELECT f2.id FROM faces f2 WHERE f2.person_id = p.id AND f2.model_id = ? "
            " ORDER BY f2.w * f2.h * f2.score DESC LIMIT 1) "
            "FROM persons p JOIN faces f ON f.person_id = p.id AND f.model_id = ? "
            f"{'' if include_hidden else 'WHERE p.hidden = 0 '}"
            "GROUP BY p.id ORDER BY p.name IS NULL, COUNT(DISTINCT f.photo_id) DESC, p.id",
            (face_model, face_model))
        return [PersonRow(int(r[0]), r[1], bool(r[2]), r[3], int(r[4]), r[5]) for r in rows]

    def photo_ids_of_persons(self, person_ids: Sequence[int], face_model: str) -> set[int]:
        marks = ",".join("?" * len(person_ids))
        rows = self.conn.execute(
            f"SELECT DISTINCT photo_id FROM faces WHERE model_id = ? AND person_id IN ({marks})",
            (face_model, *person_ids))
        return {int(r[0]) for r in rows}

    def add_face_decision(self, fingerprint: str, box: tuple[float, float, float, float], person_id: int,
                          verdict: str) -> None:
        """A user's word about one face: it `is` or is `not` the person. A newer word on the same face and
        person replaces an older one."""
        self.conn.execute(
            "DELETE FROM face_decisions WHERE fingerprint = ? AND person_id = ? AND abs(x - ?) < 1e-6 "
            "AND abs(y - ?) < 1e-6", (fingerprint, person_id, box[0], box[1]))
        if verdict == "is":  # one face is one person: an older 'is' for another person no longer holds
            self.conn.execute(
                "DELETE FROM face_decisions WHERE fingerprint = ? AND verdict = 'is' AND abs(x - ?) < 1e-6 "
                "AND abs(y - ?) < 1e-6", (fingerprint, box[0], box[1]))
        self.conn.execute(
            "INSERT INTO face_decisions(fingerprint, x, y, w, h, person_id, verdict, made_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (fingerprint, *box, person_id, verdict, time.time()))

    def face_decisions_for(self, fingerprints: Iterable[str]) -> dict[str, list[FaceDecision]]:
        out: dict[str, list[FaceDecision]] = {}
        fps = list(set(fingerprints))
        for chunk, marks in in_chunks(fps):
            rows = self.conn.execute(
                "SELECT fingerprint, x, y, w, h, person_id, verdict FROM face_decisions "
                f"WHERE fingerprint IN ({marks}) ORDER BY made_at", chunk)
            for fp, x, y, w, h, pid, verdict in rows:
                out.setdefault(fp, []).append(FaceDecision((x, y, w, h), int(pid), verdict))
        return out

    def face_counts(self, face_model: str) -> tuple[int, int]:
        """(faces of the model, photos searched for faces with it)."""
        faces = self.conn.execute("SELECT COUNT(*) FROM faces WHERE model_id = ?", (face_model,)).fetchone()[0]
        photos = self.conn.execute("SELECT COUNT(*) FROM photos WHERE faces_model = ?", (face_model,)).fetchone()[0]
        return int(faces), int(photos)
