"""The catalog's schema: forward-only migrations, numbered by PRAGMA user_version.

Only engine/catalog/ (core.py) runs them; each entry is applied once, in order, to a catalog whose version is lower.
Never edit a migration that has shipped: add the next one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE roots (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL DEFAULT 'online',
        added_at REAL NOT NULL,
        last_scan REAL,
        error TEXT
    );
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        root_id INTEGER NOT NULL REFERENCES roots(id),
        path TEXT NOT NULL UNIQUE,
        raw_path BLOB,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        fingerprint TEXT,
        width INTEGER,
        height INTEGER,
        taken_at TEXT,
        camera TEXT,
        orientation INTEGER,
        gps_lat REAL,
        gps_lon REAL,
        status TEXT NOT NULL DEFAULT 'pending',
        error TEXT,
        added_at REAL NOT NULL,
        indexed_at REAL
    );
    CREATE INDEX photos_root ON photos(root_id);
    CREATE INDEX photos_status ON photos(status);
    CREATE INDEX photos_fingerprint ON photos(fingerprint);
    CREATE INDEX photos_taken ON photos(taken_at);
    CREATE TABLE embeddings (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (photo_id, model_id)
    );
    CREATE INDEX embeddings_model ON embeddings(model_id);
    CREATE TABLE tags (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('user', 'zeroshot', 'rejected')),
        score REAL,
        model_id TEXT,
        PRIMARY KEY (photo_id, name)
    );
    CREATE INDEX tags_name ON tags(name);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT);
    """,
    # 2: a per-model change counter kept by triggers, so "did the vectors change?" costs one row read
    # instead of a scan of every vector (2 s at 1M photos).
    """
    CREATE TABLE embedding_versions (
        model_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        count INTEGER NOT NULL
    );
    INSERT INTO embedding_versions(model_id, version, count)
        SELECT model_id, 1, COUNT(*) FROM embeddings GROUP BY model_id;
    CREATE TRIGGER embeddings_insert AFTER INSERT ON embeddings BEGIN
        INSERT INTO embedding_versions(model_id, version, count) VALUES (NEW.model_id, 1, 1)
            ON CONFLICT(model_id) DO UPDATE SET version = version + 1, count = count + 1;
    END;
    CREATE TRIGGER embeddings_delete AFTER DELETE ON embeddings BEGIN
        UPDATE embedding_versions SET version = version + 1, count = count - 1 WHERE model_id = OLD.model_id;
    END;
    CREATE TRIGGER embeddings_update AFTER UPDATE ON embeddings BEGIN
        UPDATE embedding_versions SET version = version + 1 WHERE model_id IN (OLD.model_id, NEW.model_id);
        UPDATE embedding_versions SET count = count - 1 WHERE model_id = OLD.model_id AND OLD.model_id != NEW.model_id;
        INSERT INTO embedding_versions(model_id, version, count) VALUES (NEW.model_id, 1, 1)
            ON CONFLICT(model_id) DO UPDATE SET count = count + (OLD.model_id != NEW.model_id);
    END;
    """,
    # 3: a failure's kind (a transient one is retried by the next index, a permanent one only when the file
    # changes), which model's zero-shot tags a photo has (a run killed before tagging is finished by the
    # next index), photos that vanished in a way that looks like an unplugged drive (kept until confirmed),
    # and the mount points seen inside each root (a mount point that is no longer one is offline, not empty).
    """
    ALTER TABLE photos ADD COLUMN error_kind TEXT;
    ALTER TABLE photos ADD COLUMN tagged_model TEXT;
    ALTER TABLE photos ADD COLUMN missing_since REAL;
    ALTER TABLE roots ADD COLUMN mounts TEXT;
    UPDATE photos SET error_kind = CASE WHEN
            error LIKE '%disappeared%' OR error LIKE '%permission denied%' OR error LIKE '%Errno 28]%'
            OR error LIKE '%no space left%' OR error LIKE '%Errno 5]%' OR error LIKE '%input/output error%'
            OR error LIKE '%Errno 13]%' OR error LIKE '%Errno 2]%' OR error LIKE '%Errno 116]%'
            OR error LIKE '%Errno 19]%' OR error LIKE '%Errno 6]%' OR error LIKE '%Errno 110]%'
        THEN 'transient' ELSE 'permanent' END
        WHERE status = 'error';
    UPDATE photos SET tagged_model =
        (SELECT model_id FROM tags WHERE tags.photo_id = photos.id AND source = 'zeroshot' LIMIT 1);
    CREATE INDEX photos_missing ON photos(missing_since) WHERE missing_since IS NOT NULL;
    """,
    # next: a zero-shot tag's confidence (the model's probability for the tag among the whole vocabulary),
    # so that the window can show uncertain tags apart from confident ones. Tags written before have none:
    # their photos are marked untagged, so the next index re-tags them (a matrix product, no photo is read).
    """
    ALTER TABLE tags ADD COLUMN confidence REAL;
    UPDATE photos SET tagged_model = NULL WHERE tagged_model IS NOT NULL;
    """,
    # places: each photo's GPS position named offline (engine.places). A row records the position it was
    # looked up for (lat, lon), so a photo whose position changed is looked up again; NULL names mean "looked
    # up, no place" (at sea, null island), so such photos are not looked up again on every index. The *_key
    # columns are the names folded for comparison (case and accents do not count).
    """
    CREATE TABLE places (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        lat REAL,
        lon REAL,
        city TEXT,
        region TEXT,
        country TEXT,
        country_code TEXT,
        city_key TEXT,
        region_key TEXT,
        country_key TEXT
    );
    CREATE INDEX places_city ON places(city_key);
    CREATE INDEX places_region ON places(region_key);
    CREATE INDEX places_country ON places(country_key);
    """,
    # duplicates: each photo's full-content hash (exact copies), a 32x32 grey thumbnail (the pixel check
    # that confirms a near-duplicate found by its vector) and a focus measure (the keeper), written with its
    # vectors; when its duplicate check ran (NULL or older than indexed_at: to check again); and the groups,
    # one per photo at most, each with its suggested keeper and why.
    """
    ALTER TABLE photos ADD COLUMN content_hash TEXT;
    ALTER TABLE photos ADD COLUMN pixel_sig BLOB;
    ALTER TABLE photos ADD COLUMN sharpness REAL;
    ALTER TABLE photos ADD COLUMN dup_checked REAL;
    CREATE INDEX photos_content_hash ON photos(content_hash) WHERE content_hash IS NOT NULL;
    CREATE TABLE duplicate_groups (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('exact', 'near', 'burst')),
        keep_id INTEGER REFERENCES photos(id) ON DELETE SET NULL,
        reason TEXT,
        keep_chosen INTEGER NOT NULL DEFAULT 0,
        reviewed INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE duplicate_members (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        group_id INTEGER NOT NULL REFERENCES duplicate_groups(id) ON DELETE CASCADE,
        similarity REAL
    );
    CREATE INDEX duplicate_members_group ON duplicate_members(group_id);
    """,
    # people: faces found in photos, the persons they are grouped into, and the user's decisions
    # about them. Decisions are keyed by the photo's content fingerprint and the face's box, not by face or
    # photo id, so they outlive re-indexing, moves and a change of face model. A photo whose content changes
    # loses its faces (trigger) and is searched for faces again.
    """
    ALTER TABLE photos ADD COLUMN faces_model TEXT;
    CREATE TABLE persons (
        id INTEGER PRIMARY KEY,
        name TEXT,
        hidden INTEGER NOT NULL DEFAULT 0,
        merged_into INTEGER REFERENCES persons(id),
        created_at REAL NOT NULL
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,
        score REAL NOT NULL,
        embedding BLOB NOT NULL,
        person_id INTEGER REFERENCES persons(id)
    );
    CREATE INDEX faces_photo ON faces(photo_id);
    CREATE INDEX faces_person ON faces(person_id);
    CREATE INDEX faces_model_person ON faces(model_id, person_id);
    CREATE TABLE face_decisions (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,
        person_id INTEGER NOT NULL REFERENCES persons(id),
        verdict TEXT NOT NULL CHECK (verdict IN ('is', 'not')),
        made_at REAL NOT NULL
    );
    CREATE INDEX face_decisions_fp ON face_decisions(fingerprint);
    CREATE TRIGGER photos_refind_faces AFTER UPDATE OF fingerprint ON photos
        WHEN OLD.fingerprint IS NOT NEW.fingerprint BEGIN
        DELETE FROM faces WHERE photo_id = NEW.id;
        UPDATE photos SET faces_model = NULL WHERE id = NEW.id;
    END;
    """,
    # file identity: the device and inode a photo's path resolved to at the last scan. A vanished path whose
    # inode turns up under another name is the same file renamed (kept with its id and tags even when its
    # content changed too), and a vanished photo whose device is no longer where it was (an unmounted drive
    # leaves an empty folder of the parent disk behind) is never forgotten. NULL until the next scan sees
    # the file. Fingerprints of whole files (64 hex digits) replace those of their first and last 64 KiB (32
    # digits): old ones are kept, told apart by their length, and never compared with new ones.
    """
    ALTER TABLE photos ADD COLUMN dev INTEGER;
    ALTER TABLE photos ADD COLUMN ino INTEGER;
    """,
    # albums (issue #27): the person's own ('manual': the photos they put in) and smart ones (a saved query;
    # its photos are found again after each index, with the model named in `model_id`). A photo forgotten by
    # the catalog leaves its albums; an album's name is unique whatever its case.
    """
    CREATE TABLE albums (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        kind TEXT NOT NULL CHECK (kind IN ('manual', 'smart')),
        query TEXT,
        created_at REAL NOT NULL,
        model_id TEXT
    );
    CREATE TABLE album_photos (
        album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        added_at REAL NOT NULL,
        PRIMARY KEY (album_id, photo_id)
    );
    CREATE INDEX album_photos_photo ON album_photos(photo_id);
    """,
    # text in photos (issue #27, engine.text_in_photos): the lines read in each photo by `model_id` ('' when it
    # holds none: read, nothing found), and the same text folded for matching (case and accents do not count).
    # The full-text index over `folded` (photo_text_fts, trigram tokens: any substring of 3+ characters) is
    # made with sqlite-utils by the first pass that writes text. A photo whose content changed is read again.
    """
    CREATE TABLE photo_text (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        text TEXT NOT NULL,
        folded TEXT NOT NULL
    );
    CREATE TRIGGER photos_reread_text AFTER UPDATE OF fingerprint ON photos
        WHEN OLD.fingerprint IS NOT NEW.fingerprint BEGIN
        DELETE FROM photo_text WHERE photo_id = NEW.id;
    END;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
