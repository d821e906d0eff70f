"""The catalog, as a package of parts on one SQLite connection (see engine/catalog/core.py).

`from engine.catalog import PhotoCatalog, Photo, Root, ...` keeps working: the names are re-exported here."""

from engine.catalog.core import PhotoCatalog
from engine.catalog.files import (
    _split_sql,
    catalog_file_problem,
    catalog_is_blank,
    connect_read_only,
    folders_of_damaged_catalog,
    read_setting,
)
from engine.catalog.rows import (
    MAX_TAG_LENGTH,
    PERMANENT,
    PHOTO_COLUMNS,
    SURE_TAG_SQL,
    TRANSIENT,
    AlbumRow,
    DuplicateCandidate,
    DuplicateGroup,
    FaceDecision,
    FaceRow,
    FoundFaceRow,
    NewDuplicateGroup,
    PersonRow,
    Photo,
    Root,
    TagRow,
)
from engine.catalog.tags import clean_tag
from engine.catalog_schema import MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "MAX_TAG_LENGTH",
    "MIGRATIONS",
    "PERMANENT",
    "PHOTO_COLUMNS",
    "SCHEMA_VERSION",
    "SURE_TAG_SQL",
    "TRANSIENT",
    "AlbumRow",
    "DuplicateCandidate",
    "DuplicateGroup",
    "FaceDecision",
    "FaceRow",
    "FoundFaceRow",
    "NewDuplicateGroup",
    "PersonRow",
    "Photo",
    "PhotoCatalog",
    "Root",
    "TagRow",
    "_split_sql",
    "catalog_file_problem",
    "catalog_is_blank",
    "clean_tag",
    "connect_read_only",
    "folders_of_damaged_catalog",
    "read_setting",
]
