"""Turn colour + alpha into the one image the caller asked for."""

from __future__ import annotations

from PIL import Image

from alphacut.domain.options import RemovalOptions
from alphacut.imaging.transform import WHITE, cutout, on_color, resize, rotate, target_size


def compose(rgb: Image.Image, alpha: Image.Image, options: RemovalOptions) -> Image.Image:
    """Resize, then rotate, then composite (so rotated corners get the right fill)."""
    size = target_size(rgb.width, rgb.height, options.width, options.height,
                       options.exact_resize)
    alpha = rotate(resize(alpha, size), options.angle, options.expand)
    if options.mask:
        return alpha
    rgb = rotate(resize(rgb, size), options.angle, options.expand)
    if options.bg_color is not None:
        return on_color(rgb, alpha, options.bg_color, options.format.has_alpha)
    if options.format.has_alpha:
        return cutout(rgb, alpha)
    return on_color(rgb, alpha, WHITE, keep_alpha=False)
