"""Decode an untrusted image and re-encode it as a capped PNG (judge side).

A student's figure is base64 text in their notebook. It is never stored or served as it came:
the base64 is size-capped, the image header is read and its pixel count checked BEFORE any
pixel is decoded (a decompression bomb stops there), the pixels are decoded by Pillow,
converted to RGB(A), shrunk to fit MAX_SIDE, and written as a fresh PNG. Anything else is an
`ImageRefused` with one line for people.

Callers: grader.manual.answers. Calls Pillow only.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings

#: Base64 text longer than this is refused before decoding (a figure is rarely above 1 MB).
MAX_BASE64_CHARS = 8 * 1024 * 1024
#: The most pixels (width x height, from the header) an image may declare.
MAX_PIXELS = 16_000_000
#: The re-encoded figure's longest side.
MAX_SIDE = 1600
#: The re-encoded PNG's largest size; bigger ones are shrunk again.
MAX_PNG_BYTES = 2 * 1024 * 1024
FORMATS = ("PNG", "JPEG", "GIF")


class ImageRefused(ValueError):
    """The image cannot be taken; the message says why in one line."""


def decode_base64(text: object) -> bytes:
    """Notebook image data (a string, or a list of strings) as bytes; capped, strict base64."""
    if isinstance(text, list) and all(isinstance(t, str) for t in text):
        text = "".join(text)
    if not isinstance(text, str):
        raise ImageRefused("the image output is not base64 text")
    if len(text) > MAX_BASE64_CHARS:
        raise ImageRefused(f"the image is larger than {MAX_BASE64_CHARS // 2**20} MiB of base64")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ImageRefused("the image output is not valid base64") from None


def reencode_png(data: bytes) -> bytes:
    """`data` (PNG, JPEG or GIF bytes) decoded under the caps and written as a new PNG."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(FORMATS))  # reads the header only
            width, height = img.size
            if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                raise ImageRefused(f"the image is {width}x{height} pixels; at most {MAX_PIXELS:,} are taken")
            img.seek(0)
            img.load()
            img = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P", "PA") else "RGB")
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused("the image declares too many pixels") from None
    except Exception as e:  # Pillow raises many kinds on hostile bytes; all mean "not an image"
        raise ImageRefused(f"the image cannot be decoded ({type(e).__name__})") from None
    side = MAX_SIDE
    while True:
        if max(img.size) > side:
            img.thumbnail((side, side))
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
        out = buf.getvalue()
        if len(out) <= MAX_PNG_BYTES or side <= 200:
            break
        side //= 2
    if len(out) > MAX_PNG_BYTES:
        raise ImageRefused("the image is too large even when shrunk")
    return out
