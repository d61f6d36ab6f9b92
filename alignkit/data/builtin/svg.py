"""Render SVG drawings to fixed-size PNGs on white, safely (no entities, no external fetches)."""

from __future__ import annotations

import io

from PIL import Image

from alignkit.errors import BadItemError, NotInstalledError


def render_svg(svg: bytes, size: int) -> bytes:
    """An SVG as a ``size``x``size`` RGB PNG: aspect kept, centred, transparent areas white.

    cairosvg's default (``unsafe=False``) forbids XML entities and fetching external files.
    """
    try:
        import cairosvg
    except (ImportError, OSError) as e:  # OSError: the cairo C library is missing
        raise NotInstalledError(f"rendering SVG {cairo_step()} ({e})") from None
    try:
        img = _open_png(cairosvg.svg2png(bytestring=svg, output_width=size))
        if img.height > size:
            img = _open_png(cairosvg.svg2png(bytestring=svg, output_height=size))
    except BadItemError:
        raise
    except Exception as e:  # cairosvg raises many types on bad drawings
        raise BadItemError(f"cannot render SVG: {type(e).__name__}: {e}") from None
    canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    canvas.alpha_composite(img.convert("RGBA"), ((size - img.width) // 2, (size - img.height) // 2))
    out = io.BytesIO()
    canvas.convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()


def _open_png(data: bytes | None) -> Image.Image:
    if not data:
        raise BadItemError("cannot render SVG: empty output")
    img = Image.open(io.BytesIO(data))
    img.load()
    if img.width < 1 or img.height < 1:
        raise BadItemError("cannot render SVG: zero-size drawing")
    return img


def cairo_step() -> str:
    """What rendering needs next: cairosvg from pip only when it is absent; where it is installed
    but cannot load, the cairo C library it wraps."""
    import importlib.util

    if importlib.util.find_spec("cairosvg") is None:
        return "needs cairosvg: pip install cairosvg"
    return "needs the cairo C library that the installed cairosvg loads: `sudo apt-get install -y libcairo2`"
