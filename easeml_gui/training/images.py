"""One image file: check that it decodes (without trusting its header), and decode it to a fixed-size array.

Normalisation rule: a dataset whose images are all grey (modes 1, L, LA, I, I;16, F) is decoded to one channel,
anything else to RGB. Palette images count as colour. Transparency is composited over white, 16-bit grey is
scaled to 8 bits, and every image is resized (shorter side) and centre-cropped to a square.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm",
                            ".pbm"})
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


class BadImage(Exception):
    """A file that cannot be used as an image; str(error) is the reason, without the file name."""


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    mode: str

    @property
    def grey(self) -> bool:
        return self.mode in GREY_MODES


def inspect_image(source: IO[bytes], suffix: str, max_pixels: int) -> ImageFacts:
    """Decode the image `source` holds fully (a valid header over truncated pixels must fail here, not in the
    middle of training); PIL reads it in blocks, never the whole file at once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own pixel limit below is stricter
        try:
            with Image.open(source) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise BadImage(f"{width}x{height} pixels is over the limit of {max_pixels:,} pixels per image "
                                   "(a decompression bomb, or a photo to downscale first)")
                image.load()
                return ImageFacts(width, height, image.mode)
        except BadImage:
            raise
        except Image.DecompressionBombError as error:
            raise BadImage(f"decompression bomb refused ({error})") from None
        except UnidentifiedImageError:
            if suffix.lower() in IMAGE_SUFFIXES:
                raise BadImage("corrupt or unreadable image (no image format recognises its content)") from None
            raise BadImage("not an image file") from None
        except Exception as error:  # decoders raise OSError, SyntaxError, ValueError, zlib.error...: all mean corrupt
            raise BadImage(f"corrupt or truncated image ({type(error).__name__}: {error})") from None


def decode_image(data: bytes, channels: int, size: int) -> np.ndarray:
    """The image as a (channels, size, size) uint8 array, normalised as the module docstring says."""
    with Image.open(io.BytesIO(data)) as image:
        image = _normalise_mode(image, grey=channels == 1)
        image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _normalise_mode(image: Image.Image, grey: bool) -> Image.Image:
    if image.mode.startswith("I;16"):
        # convert("L") would clip 16-bit values at 255; keep the top 8 bits instead
        image = Image.fromarray((np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8), "L")
    elif image.mode in ("I", "F"):
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), "L")
    if "A" in image.getbands() or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return image.convert("L" if grey else "RGB")
