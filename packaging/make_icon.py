"""Draw Photosift's icon (packaging/photosift.png, 256 x 256): a photo (hills and a sun) under a magnifier.

    python packaging/make_icon.py

The PNG is committed; run this again only to change the drawing. Pillow draws it at 4x and scales it down,
for smooth edges.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "photosift.png"
SIZE, SCALE = 256, 4


def draw() -> Image.Image:
    s = SIZE * SCALE
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return int(x0 * s), int(y0 * s), int(x1 * s), int(y1 * s)

    d.rounded_rectangle(box(0.04, 0.04, 0.96, 0.96), radius=int(0.18 * s), fill=(37, 99, 235))  # the tile
    d.rounded_rectangle(box(0.14, 0.18, 0.78, 0.70), radius=int(0.05 * s), fill=(248, 250, 252))  # the photo
    d.ellipse(box(0.56, 0.24, 0.70, 0.38), fill=(250, 204, 21))  # the sun
    d.polygon([(int(x * s), int(y * s)) for x, y in ((0.17, 0.66), (0.36, 0.38), (0.52, 0.66))], fill=(22, 163, 74))
    d.polygon([(int(x * s), int(y * s)) for x, y in ((0.38, 0.66), (0.56, 0.46), (0.75, 0.66))], fill=(21, 128, 61))
    d.ellipse(box(0.46, 0.46, 0.80, 0.80), outline=(15, 23, 42), width=int(0.045 * s))  # the magnifier's lens
    d.line([box(0.76, 0.76, 0.90, 0.90)[:2], box(0.76, 0.76, 0.90, 0.90)[2:]], fill=(15, 23, 42),
           width=int(0.075 * s))
    return img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


if __name__ == "__main__":
    draw().save(OUT, optimize=True)
    print(OUT)
