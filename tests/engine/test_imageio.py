import io

import pytest
from PIL import Image

from engine.errors import ImageReadError
from engine.imageio import fingerprint, open_photo, read_metadata, save_thumbnail, thumbnail_path
from tests.conftest import write_jpeg


def _exif(orientation: int | None = None, date: str | None = None, make: str | None = None,
          model: str | None = None, gps: bool = False) -> bytes:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if date:
        exif.get_ifd(0x8769)[0x9003] = date
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "W", 4: (1.0, 30.0, 0.0)})
    return exif.tobytes()


def test_orientation_applied_and_metadata_read(tmp_path):
    path = write_jpeg(tmp_path / "a.jpg", size=(80, 40),
                      exif=_exif(6, "2021:07:04 18:30:00", "Canon", "Canon EOS R5", gps=True))
    photo = open_photo(path)
    assert photo.image.size == (40, 80)  # rotated 90 degrees
    m = photo.meta
    assert (m["width"], m["height"], m["orientation"]) == (40, 80, 6)
    assert m["taken_at"] == "2021-07-04T18:30:00"
    assert m["camera"] == "Canon EOS R5"
    assert m["gps_lat"] == pytest.approx(52.52) and m["gps_lon"] == pytest.approx(-1.5)


def test_jpeg_draft_decodes_large_photos_small(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(path, quality=80)
    photo = open_photo(path, min_side=256)
    assert photo.image.size[1] < 3000 and min(photo.image.size) >= 256
    assert (photo.meta["width"], photo.meta["height"]) == (4000, 3000)


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp"),
                                     ("TIFF", "tiff"), ("HEIF", "heic")])
def test_formats(tmp_path, fmt, ext):
    path = tmp_path / f"x.{ext}"
    Image.new("RGB", (32, 24), (0, 200, 0)).save(path, fmt)
    photo = open_photo(path)
    assert photo.image.mode == "RGB" and photo.image.size == (32, 24)


def test_transparent_png_flattened_on_white(tmp_path):
    path = tmp_path / "cut.png"
    Image.new("RGBA", (10, 10), (255, 0, 0, 0)).save(path)
    assert open_photo(path).image.getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file"),
    (b"hello, I am text pretending to be a photo", "not an image"),
])
def test_bad_files_have_clear_reasons(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason):
        open_photo(path)


def test_truncated_and_corrupt_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.effect_noise((300, 200), 50).convert("RGB").save(buf, "JPEG")
    data = buf.getvalue()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="corrupt or truncated"):
        open_photo(tmp_path / "trunc.jpg")
    (tmp_path / "corrupt.jpg").write_bytes(data[:20] + b"\x00" * 200 + data[220:])
    with pytest.raises(ImageReadError):
        open_photo(tmp_path / "corrupt.jpg")


def test_decompression_bomb_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(path)  # 400 MP, a few KB on disk
    with pytest.raises(ImageReadError, match="too large: 20000x20000"):
        open_photo(path)


def test_vanished_file(tmp_path):
    with pytest.raises(ImageReadError, match="disappeared"):
        open_photo(tmp_path / "gone.jpg")


def test_fingerprint_follows_content_not_name(tmp_path):
    a = write_jpeg(tmp_path / "a.jpg")
    b = tmp_path / "b.jpg"
    b.write_bytes(a.read_bytes())
    c = write_jpeg(tmp_path / "c.jpg", color=(1, 2, 3))
    fa = fingerprint(a, a.stat().st_size)
    assert fa == fingerprint(b, b.stat().st_size)
    assert fa != fingerprint(c, c.stat().st_size)


def test_thumbnail_cached_by_fingerprint(tmp_path):
    img = Image.new("RGB", (1000, 500))
    dest = thumbnail_path(tmp_path, "abcdef")
    save_thumbnail(img, dest)
    with Image.open(dest) as t:
        assert max(t.size) == 256
    assert dest.parent.name == "ab"
    assert not list(dest.parent.glob("*.tmp"))


def test_broken_exif_keeps_the_photo(tmp_path):
    path = write_jpeg(tmp_path / "x.jpg")
    with Image.open(path) as im:
        meta = read_metadata(im)
    assert meta["width"] == 64 and meta["taken_at"] is None


def test_thumbnail_cache_pruned_oldest_first(tmp_path):
    import os

    from engine.imageio import prune_thumbnails

    paths = []
    for i in range(10):
        dest = thumbnail_path(tmp_path, f"{i:02d}abcdef")
        save_thumbnail(Image.effect_noise((300, 300), 60).convert("RGB"), dest)
        os.utime(dest, (1000 + i, 1000 + i))
        paths.append(dest)
    size = sum(p.stat().st_size for p in paths)
    assert prune_thumbnails(tmp_path, size * 2) == 0
    removed = prune_thumbnails(tmp_path, size // 2)
    assert removed >= 5
    assert not paths[0].exists() and paths[-1].exists()
    assert sum(p.stat().st_size for p in paths if p.exists()) <= size // 2
