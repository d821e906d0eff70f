"""Text in photos (issue #27 item 2): read by RapidOCR on real photos with words on them, stored resumably, matched
anywhere in a word with case and accents folded, as a `text:` filter and fused with the vector ranking."""

from __future__ import annotations

import sqlite3

import pytest
from PIL import Image, ImageDraw, ImageFont

from engine.catalog.text import fold_text
from engine.errors import Cancelled, QueryError
from engine.jobs import CancelToken
from engine.query import parse_query
from engine.search import PhotoSearch, SearchFilters, SearchOptions, query_words
from engine.text_in_photos import (
    TextUnavailableError,
    read_text_in_file,
    read_text_in_photos,
    set_text_setting,
    text_installed,
    text_model_id,
)
from tests.engine import test_search
from tests.engine.test_search import KnownEncoder, _names

library = test_search.library  # the fixture: a library of known vectors
needs_ocr = pytest.mark.skipif(not text_installed(), reason="photosift[ocr] is not installed")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _photo_with_sign(path, words: str, photo: str = "coffee") -> None:
    """A real photo (scikit-image's) with a light sign of dark words drawn on it, as a shop sign would be."""
    from skimage import data

    image = Image.fromarray(getattr(data, photo)()).convert("RGB")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype(FONT, max(20, image.width // 16))
    except OSError:
        font = ImageFont.load_default(size=max(20, image.width // 16))
    width = draw.textlength(words, font=font)
    draw.rectangle((16, 16, 40 + width, 30 + font.size * 1.3), fill=(245, 244, 236))
    draw.text((28, 22), words, font=font, fill=(25, 25, 25))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=92)


def _png_claiming(path, width: int, height: int) -> None:
    """A small PNG whose header says it is width x height (what a decompression bomb looks like)."""
    import io
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8  # after the signature: length (4), b"IHDR" (4), then width and height
    data[ihdr + 8:ihdr + 16] = struct.pack(">II", width, height)
    data[ihdr + 21:ihdr + 25] = struct.pack(">I", zlib.crc32(bytes(data[ihdr + 4:ihdr + 21])))
    path.write_bytes(bytes(data))


@needs_ocr
def test_the_words_on_a_real_photo_are_read(tmp_path):
    _photo_with_sign(tmp_path / "cafe.jpg", "Café Lisboa 1923")
    lines = read_text_in_file(tmp_path / "cafe.jpg")
    assert any("Lisboa" in line for line in lines) and any("1923" in line for line in lines), lines
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "plain.jpg", quality=92)
    assert not any(len(line) >= 4 for line in read_text_in_file(tmp_path / "plain.jpg")), "no sign, no words"


def test_matching_folds_case_and_accents_and_finds_parts_of_words(library):
    cat = library.catalog
    ids = library.ids
    cat.text.ensure_index()
    with cat.transaction():
        cat.text.put(ids["city"], "test", ["CAFÉ LISBOA", "Rua Augusta 12"])
        cat.text.put(ids["dog_snow"], "test", ["Bäckerei Müller"])
        cat.text.put(ids["beach_people"], "test", [])
    assert cat.text.of_photo(ids["city"]) == "CAFÉ LISBOA\nRua Augusta 12"
    assert cat.text.of_photo(ids["beach_people"]) == "" and cat.text.of_photo(ids["sunset_beach"]) is None
    assert cat.text.counts() == (3, 2)
    for words, want in ((["cafe"], {"city"}), (["Lisb"], {"city"}), (["augusta", "café"], {"city"}),
                        (["backerei"], {"dog_snow"}), (["MÜLLER"], {"dog_snow"}), (["12"], {"city"}),
                        (["lisboa", "muller"], set()), (["nowhere"], set())):
        assert {n for n, i in ids.items() if i in cat.text.photos_with_words(words)} == want, words
    assert fold_text("  Ça   VA ") == "ca va" and fold_text("Smørrebrød, Æble, Łódź, Straße") == (
        "smorrebrod, aeble, lodz, strasse")
    # the same matches from a catalog without the trigram index (scanned)
    cat.conn.execute("DROP TABLE photo_text_fts")
    for name in [r[0] for r in cat.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                                 "AND name LIKE 'photo_text_a%'")]:
        cat.conn.execute(f"DROP TRIGGER {name}")
    assert not cat.text.fts_ready()
    assert cat.text.photos_with_words(["Lisb", "12"]) == {ids["city"]}


def test_the_index_follows_changes_and_forgets_with_the_photo(library):
    cat = library.catalog
    ids = library.ids
    cat.text.ensure_index()
    with cat.transaction():
        cat.text.put(ids["city"], "test", ["Old Sign"])
    assert cat.text.photos_with_words(["old"]) == {ids["city"]}
    with cat.transaction():
        cat.text.put(ids["city"], "test", ["New Sign"])
    assert cat.text.photos_with_words(["old"]) == set() and cat.text.photos_with_words(["new"]) == {ids["city"]}
    # its content changed: read again (the text goes until then)
    cat.conn.execute("UPDATE photos SET fingerprint = 'changed' WHERE id = ?", (ids["city"],))
    assert cat.text.of_photo(ids["city"]) is None and cat.text.photos_with_words(["new"]) == set()
    assert ids["city"] in {p.id for p in cat.text.photos_missing("test")}
    with cat.transaction():
        cat.text.put(ids["dog_snow"], "test", ["Gone Soon"])
    cat.conn.execute("DELETE FROM photos WHERE id = ?", (ids["dog_snow"],))
    assert cat.text.photos_with_words(["gone"]) == set()
    left = cat.conn.execute("SELECT COUNT(*) FROM photo_text_fts WHERE photo_text_fts MATCH '\"gone\"'").fetchone()
    assert left[0] == 0


def test_text_filter_and_text_first_search(library):
    cat = library.catalog
    ids = library.ids
    cat.text.ensure_index()
    with cat.transaction():
        cat.text.put(ids["city"], "test", ["Beach Bar Lisboa"])  # a city photo whose sign says "beach"
        cat.text.put(ids["food3"], "test", ["Lisboa 1923"])
    s = PhotoSearch(library, KnownEncoder())
    # the filter: only photos whose text holds the words, wherever in a word; newest first without other words
    assert set(_names(library, s.search("text:lisboa"))) == {"city", "food3"}
    assert _names(library, s.search('text:"lisb 1923"')) == ["food3"]
    assert _names(library, s.search("beach text:lisboa", SearchOptions(min_z=None))) == ["city", "food3"]
    assert sorted(cat.browse.filtered_photo_ids(SearchFilters(text=("LISBOA",)))) == sorted([ids["city"], ids["food3"]])
    # plain words match where a word of the text begins ("lisb" does, "isboa" does not); text: anywhere
    assert cat.text.photos_with_words(["isboa"]) == {ids["city"], ids["food3"]}
    assert cat.text.photos_with_words(["isboa"], word_start=True) == set()
    assert cat.text.photos_with_words(["lisb", "bar"], word_start=True) == {ids["city"]}
    with cat.transaction():
        cat.text.put(ids["food5"], "test", ["Moscow Road"])
    assert _names(library, s.search("city cow", SearchOptions(min_z=None)))[0] == "city", "cow is no Moscow"
    assert not any(r.text_match for r in s.search("city cow", SearchOptions(min_z=None)))
    # fused: the photo whose text holds "beach" first, then the vector's ranking as it was
    plain = _names(library, s.search_vector(s.query_vector(parse_query("beach")), SearchOptions()))
    fused = s.search("beach")
    assert _names(library, fused)[0] == "city" and fused[0].text_match and "city" not in plain
    assert _names(library, fused)[1:] == plain and not any(r.text_match for r in fused[1:])
    assert fused[0].to_dict()["text_match"] is True
    # little words and short ones match nothing read: "the beach" is "beach"
    assert query_words(parse_query('the beach "at sunset" - car')) == ["beach", "sunset"]
    assert query_words(parse_query("\u201cloonie\u201d they were here")) == ["loonie", "here"]


def test_a_year_no_photo_was_taken_in_is_searched_as_words(library):
    cat = library.catalog
    cat.text.ensure_index()
    with cat.transaction():
        cat.text.put(library.ids["food7"], "test", ["Café Lisboa", "city bakery since 1923"])
    s = PhotoSearch(library, KnownEncoder())
    found = s.search("city lisboa 1923", SearchOptions(min_z=None))
    assert _names(library, found)[0] == "food7" and found[0].text_match  # 1923: no photo then, so words
    assert _names(library, s.search("beach 2019")) == ["sunset_beach"]  # a year photos were taken in: a filter


def test_text_filter_without_any_text_read_says_how_to_read_it(library):
    with pytest.raises(QueryError, match="photosift index --text"):
        PhotoSearch(library, KnownEncoder()).search("text:menu")


def test_turning_text_on_without_rapidocr_says_what_to_install(library, monkeypatch):
    import engine.text_in_photos as tip

    monkeypatch.setattr(tip, "text_installed", lambda: False)
    with pytest.raises(TextUnavailableError, match=r"photosift\[ocr\]"):
        set_text_setting(library.catalog, True)
    set_text_setting(library.catalog, False)
    assert library.catalog.get_setting("text_in_photos") == "off"


@needs_ocr
def test_the_pass_reads_each_photo_once_resumes_after_a_kill_and_reports_unreadable_ones(tmp_path, lib):
    folder = tmp_path / "photos"
    _photo_with_sign(folder / "a.jpg", "EXIT 24")
    _photo_with_sign(folder / "b.jpg", "Hotel Astoria", photo="chelsea")
    _photo_with_sign(folder / "c.jpg", "Platform 9", photo="rocket")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    _png_claiming(folder / "huge.png", 30000, 30000)  # 900 MP, over the decoder's limit: refused, never decoded
    cat = lib.catalog
    root = cat.add_root(str(folder))
    with cat.transaction():
        for name in ("a.jpg", "b.jpg", "c.jpg", "broken.jpg", "huge.png"):
            pid = cat.insert_photo(root_id=root.id, path=str(folder / name), raw_path=None, size=1, mtime=1,
                                   fingerprint=name)
            cat.conn.execute("UPDATE photos SET status = 'ok' WHERE id = ?", (pid,))
    model = text_model_id()
    todo = cat.text.photos_missing(model)
    assert len(todo) == 5
    cancel = CancelToken()
    seen = []

    def progress(p):
        seen.append(p.done)
        if p.done >= 2:
            cancel.cancel()

    first_failures: list[tuple[str, str]] = []
    with pytest.raises(Cancelled):
        read_text_in_photos(cat, todo, batch_size=2, progress=progress, cancel=cancel)
    left = cat.text.photos_missing(model)
    assert len(left) == 3, "the batch committed before the kill stays read"
    report = read_text_in_photos(cat, left, batch_size=2)
    assert report.photos == 3 and cat.text.photos_missing(model) == []
    texts = {p.path.rsplit("/", 1)[1]: cat.text.of_photo(p.id) for p in cat.photos_where("")}
    assert "EXIT 24" in texts["a.jpg"] and "Astoria" in texts["b.jpg"] and "Platform" in texts["c.jpg"]
    assert texts["broken.jpg"] == "" and texts["huge.png"] == ""
    failures = dict(report.failures) | dict(first_failures)
    assert "too large" in failures[str(folder / "huge.png")] and str(folder / "broken.jpg") in failures
    s_ids = cat.text.photos_with_words(["astoria"])
    assert [p.path.rsplit("/", 1)[1] for p in cat.photos_where("") if p.id in s_ids] == ["b.jpg"]


def test_a_search_leaves_the_catalog_as_it_was(library, tmp_path):
    cat = library.catalog
    cat.text.ensure_index()
    with cat.transaction():
        cat.text.put(library.ids["city"], "test", ["Lisboa"])
    before = list(cat.conn.iterdump())
    s = PhotoSearch(library, KnownEncoder())
    for query in ("city lisboa", "text:lisboa", "beach text:lisb", 'text:"nothing here"'):
        s.search(query)
    with pytest.raises(QueryError):
        s.search("text:")
    assert list(cat.conn.iterdump()) == before
    assert isinstance(cat.conn, sqlite3.Connection)
