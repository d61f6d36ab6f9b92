"""Safe image decoding: every failure becomes a ``BadItemError`` with a reason, never a crash.

Normalises to RGB: EXIF orientation applied, alpha composited on white (as a drawing on
paper, which is what emoji and clip-art are), palette/CMYK/LA/16-bit converted. Pixel counts
above ``MAX_PIXELS`` are refused as decompression bombs before the pixels are decoded.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from alignkit.data.base import ImageRef
from alignkit.errors import BadItemError

MAX_PIXELS = 89_478_485  # PIL's own default bomb threshold, enforced as an error, not a warning


def decode_image(ref: ImageRef) -> Image.Image:
    """Open ``ref`` (path, bytes or PIL image) as an RGB image, or raise ``BadItemError``."""
    try:
        if isinstance(ref, Image.Image):
            img = ref
            img.load()
        else:
            if isinstance(ref, (str, Path)):
                path = Path(ref)
                if not path.exists():
                    raise BadItemError(f"missing file: {path}")
                data = path.read_bytes()
            else:
                data = bytes(ref)
            if len(data) == 0:
                raise BadItemError("empty image file (0 bytes)")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
                if img.width * img.height > MAX_PIXELS:
                    raise BadItemError(f"decompression bomb: {img.width}x{img.height} pixels")
                img.load()
        return to_rgb(img)
    except BadItemError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadItemError(f"decompression bomb: {e}") from None
    except UnidentifiedImageError:
        raise BadItemError("not a recognised image format") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated / corrupt streams
        raise BadItemError(f"corrupt image: {e}") from None


def to_rgb(img: Image.Image) -> Image.Image:
    """Apply EXIF orientation and convert any mode to 8-bit RGB (alpha over white)."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 1.0
        scale = 255.0 / (65535.0 if hi > 255 else max(hi, 1.0))
        img = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(arr.astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "RGB" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return img.convert("RGB")
