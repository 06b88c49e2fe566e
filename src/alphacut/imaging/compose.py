"""Turn colour + alpha into the one image the caller asked for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from alphacut.domain.layout import Box
from alphacut.domain.options import OutputFormat, RemovalOptions
from alphacut.imaging import layout
from alphacut.imaging.transform import (
    WHITE,
    cover,
    cutout,
    on_color,
    on_image,
    resize,
    rgba,
    rotate,
    sized,
)


@dataclass
class Composed:
    pixels: np.ndarray
    """``(height, width)`` for a mask, else 3 or 4 channels."""
    foreground: Box | None
    """The subject's box in the result's frame (None: no subject)."""


def compose(rgb: np.ndarray, alpha: np.ndarray, options: RemovalOptions,
            background: Image.Image | None = None) -> Composed:
    """Resize, then rotate, then the shadow, then the background (so rotated corners get
    the right fill and the shadow falls below the subject in the final image).

    ``rgb`` is ``(height, width, 3)`` and ``alpha`` ``(height, width)``, both uint8.

    Colour is resized and rotated together with its alpha, as RGBA (Pillow then
    works premultiplied): each new pixel's colour is weighted by how visible its
    sources were, so the old background, invisible before, never bleeds into the
    edges (no halo, no dark fringe from the black under transparent pixels).
    """
    height, width = alpha.shape
    size = sized(width, height, options)
    if options.mask:
        if size != (width, height) or options.angle % 360 != 0:
            alpha = np.asarray(rotate(resize(Image.fromarray(alpha, "L"), size),
                                      options.angle, options.expand))
        return Composed(alpha, layout.subject_box(alpha))
    if size != (width, height) or options.angle % 360:
        moved = np.asarray(rotate(resize(Image.fromarray(rgba(rgb, alpha), "RGBA"), size),
                                  options.angle, options.expand))
        rgb, alpha = np.ascontiguousarray(moved[..., :3]), np.ascontiguousarray(moved[..., 3])
    box = layout.subject_box(alpha)
    if options.shadow and box is not None:
        shadow = layout.contact_shadow(alpha, options.shadow_opacity, options.shadow_softness,
                                       box)
        rgb, alpha = layout.under(rgb, alpha, shadow)
    return Composed(_finish(rgb, alpha, options, background), box)


def _finish(rgb: np.ndarray, alpha: np.ndarray, options: RemovalOptions,
            background: Image.Image | None) -> np.ndarray:
    if background is not None:
        canvas = cover(background, (alpha.shape[1], alpha.shape[0]))
        pixels = on_image(rgb, alpha, canvas)
    elif options.bg_color is not None:
        pixels = on_color(rgb, alpha, options.bg_color, options.format.has_alpha)
    else:
        pixels = None
    if pixels is not None:
        if options.format is OutputFormat.ZIP:
            # color.jpg: the subject on its background; alpha.png: still the matte.
            return rgba(np.ascontiguousarray(pixels[..., :3]), alpha)
        return pixels
    if options.format is OutputFormat.ZIP:
        return rgba(rgb, alpha)  # the colour kept under transparent pixels: color.jpg
    if options.format.has_alpha:
        return cutout(rgb, alpha)
    return on_color(rgb, alpha, WHITE, keep_alpha=False)
