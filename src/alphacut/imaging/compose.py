"""Turn colour + alpha into the one image the caller asked for."""

from __future__ import annotations

import numpy as np
from PIL import Image

from alphacut.domain.options import RemovalOptions
from alphacut.imaging.transform import (
    WHITE,
    cutout,
    on_color,
    resize,
    rgba,
    rotate,
    target_size,
)


def compose(rgb: np.ndarray, alpha: np.ndarray, options: RemovalOptions) -> np.ndarray:
    """Resize, then rotate, then composite (so rotated corners get the right fill).

    ``rgb`` is ``(height, width, 3)`` and ``alpha`` ``(height, width)``, both uint8;
    the result is ``(height, width)`` for a mask, else 3 or 4 channels.

    Colour is resized and rotated together with its alpha, as RGBA (Pillow then
    works premultiplied): each new pixel's colour is weighted by how visible its
    sources were, so the old background, invisible before, never bleeds into the
    edges (no halo, no dark fringe from the black under transparent pixels).
    """
    height, width = alpha.shape
    size = target_size(width, height, options.width, options.height, options.exact_resize)
    if options.mask:
        if size == (width, height) and options.angle % 360 == 0:
            return alpha
        return np.asarray(rotate(resize(Image.fromarray(alpha, "L"), size), options.angle,
                                 options.expand))
    if size != (width, height) or options.angle % 360:
        moved = np.asarray(rotate(resize(Image.fromarray(rgba(rgb, alpha), "RGBA"), size),
                                  options.angle, options.expand))
        rgb, alpha = np.ascontiguousarray(moved[..., :3]), np.ascontiguousarray(moved[..., 3])
    if options.bg_color is not None:
        return on_color(rgb, alpha, options.bg_color, options.format.has_alpha)
    if options.format.has_alpha:
        return cutout(rgb, alpha)
    return on_color(rgb, alpha, WHITE, keep_alpha=False)
