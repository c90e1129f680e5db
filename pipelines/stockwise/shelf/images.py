"""Reading shelf photos safely: a bad file is reported and skipped, never stops a batch.

Checks, in order: the bytes are an image Pillow knows (not a PDF, not text), the declared size
is within `max_pixels` (a decompression bomb declares a huge canvas in a small file), and the
pixels decode completely (a truncated upload fails here).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # about 7,300 x 5,500: any phone photo, not a bomb


@dataclass(frozen=True)
class ImageCheck:
    name: str
    ok: bool
    reason: str = ""
    width: int = 0
    height: int = 0


def open_image(data: bytes, name: str, max_pixels: int = MAX_PIXELS) -> tuple[Image.Image | None, ImageCheck]:
    """(the decoded RGB image, or None; what was found)."""
    if not data:
        return None, ImageCheck(name, False, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                return None, ImageCheck(
                    name,
                    False,
                    f"{w}x{h} pixels is over the {max_pixels:,} limit (a decompression bomb or an unreasonable photo)",
                    w,
                    h,
                )
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        return None, ImageCheck(name, False, f"decompression bomb refused: {e}")
    except (UnidentifiedImageError, ImportError):
        # ImportError: a library that patches Image.open to try an optional format plugin it
        # cannot install (ultralytics and HEIF, offline) - still not an image we can read
        return None, ImageCheck(name, False, "not an image Pillow can read")
    except (OSError, SyntaxError, ValueError) as e:
        return None, ImageCheck(name, False, f"corrupt or truncated image: {e}")
    except Exception as e:  # noqa: BLE001 - a bad file is reported, never stops a batch
        return None, ImageCheck(name, False, f"unreadable: {type(e).__name__}: {e}")
    return img.convert("RGB"), ImageCheck(name, True, "", w, h)
