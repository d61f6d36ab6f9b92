"""decode_image on every awkward input: each is repaired (when the fix is certain) or refused with a reason."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alignkit.data.images import decode_image
from alignkit.errors import BadItemError


def encoded(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def test_rgba_is_composited_on_white() -> None:
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    img.putpixel((0, 0), (0, 0, 255, 255))
    rgb = decode_image(encoded(img))
    assert rgb.mode == "RGB"
    assert rgb.getpixel((1, 1)) == (255, 255, 255) and rgb.getpixel((0, 0)) == (0, 0, 255)


def test_palette_with_transparency_becomes_white_background() -> None:
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 255, 0] + [200, 0, 0] * 255)
    img.putpixel((0, 0), 1)
    rgb = decode_image(encoded(img, transparency=0))
    assert rgb.getpixel((2, 2)) == (255, 255, 255) and rgb.getpixel((0, 0)) == (200, 0, 0)


def test_la_cmyk_and_16_bit() -> None:
    la = Image.new("LA", (3, 3), (40, 255))
    assert decode_image(encoded(la)).getpixel((0, 0)) == (40, 40, 40)
    cmyk = Image.new("CMYK", (3, 3), (0, 255, 255, 0))  # pure red in CMYK
    r, g, b = decode_image(encoded(cmyk, "JPEG", quality=95)).getpixel((1, 1))
    assert r > 200 and g < 60 and b < 60
    arr = np.full((3, 3), 65535, dtype=np.uint16)
    arr[0, 0] = 0
    sixteen = Image.fromarray(arr)  # uint16 -> mode I;16
    rgb = decode_image(encoded(sixteen))
    assert rgb.mode == "RGB" and rgb.getpixel((1, 1)) == (255, 255, 255) and rgb.getpixel((0, 0)) == (0, 0, 0)


def test_exif_rotation_is_applied() -> None:
    img = Image.new("RGB", (20, 10), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 10))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    out = decode_image(encoded(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == (10, 20)
    assert sum(out.getpixel((5, 2))) > 600 and sum(out.getpixel((5, 17))) < 100  # white half now on top


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "0 bytes"),
        (b"hello, not an image", "not a recognised image"),
    ],
)
def test_refused_bytes(data: bytes, reason: str) -> None:
    with pytest.raises(BadItemError, match=reason):
        decode_image(data)


def test_truncated_and_missing(tmp_path: Path) -> None:
    data = encoded(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    with pytest.raises(BadItemError, match="corrupt"):
        decode_image(data[: len(data) // 2])
    with pytest.raises(BadItemError, match="missing file"):
        decode_image(tmp_path / "nope.png")


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(BadItemError, match="decompression bomb"):
        decode_image(_png_header_only(40_000, 40_000))  # 1.6 G pixels claimed by a tiny file
