"""Turn colour + alpha into the one image the caller asked for."""

from __future__ import annotations

from PIL import Image

from alphacut.domain.options import RemovalOptions
from alphacut.imaging.transform import WHITE, cutout, on_color, resize, rotate, target_size


def compose(rgb: Image.Image, alpha: Image.Image, options: RemovalOptions) -> Image.Image:
    """Resize, then rotate, then composite (so rotated corners get the right fill).

    Colour is resized and rotated together with its alpha, as RGBA (Pillow then
    works premultiplied): each new pixel's colour is weighted by how visible its
    sources were, so the old background, invisible before, never bleeds into the
    edges (no halo, no dark fringe from the black under transparent pixels).
    """
    size = target_size(rgb.width, rgb.height, options.width, options.height,
                       options.exact_resize)
    if options.mask:
        return rotate(resize(alpha, size), options.angle, options.expand)
    if size != rgb.size or options.angle % 360:
        rgba = rgb.convert("RGBA")
        rgba.putalpha(alpha)
        rgba = rotate(resize(rgba, size), options.angle, options.expand)
        rgb, alpha = rgba.convert("RGB"), rgba.getchannel("A")
    if options.bg_color is not None:
        return on_color(rgb, alpha, options.bg_color, options.format.has_alpha)
    if options.format.has_alpha:
        return cutout(rgb, alpha)
    return on_color(rgb, alpha, WHITE, keep_alpha=False)
