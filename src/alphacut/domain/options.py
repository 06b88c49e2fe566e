"""What the caller asked for: the removal options, declared once.

``RemovalOptions`` is the schema. Each of its fields carries an :class:`Option`
in its metadata: how the RemBG form names and parses it (with the contract's
messages), its ``alphacut remove`` flag, and its control in the web editor.
Everything else is derived from these rows: form parsing (:func:`parse_options`),
the CLI flags (``alphacut.cli.options``), the OpenAPI fields
(``alphacut.web.openapi``) and the editor's controls (``alphacut.webapp``).
Adding an option is adding a field here, and the engine stage that uses it.

Form parsing checks the fields in declaration order (the contract's: ``format``,
``w``, ``h``, ``angle``, ``bg_color``, the booleans, then alphacut's extensions),
then the rules that span fields (``mask`` with ``bg_color``), and reports every
error found: one alone
as itself, more than one as the contract's "Multiple validation errors".
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any, Literal

from alphacut.domain.colors import RGBA, parse_color
from alphacut.domain.layout import (
    MAX_MARGIN_PX,
    Margin,
    Position,
    Roi,
    parse_margin,
    parse_position,
    parse_roi,
    parse_scale,
)
from alphacut.errors import FieldErrors, InvalidField

MAX_TARGET_SIDE = 10000
MAX_ANGLE = 360.0
MAX_FEATHER = 100
MAX_SHADOW_SOFTNESS = 500
DEFAULT_SHADOW_OPACITY = 50


class OutputFormat(Enum):
    WEBP = "webp"
    PNG = "png"
    JPEG = "jpeg"
    BMP = "bmp"
    AVIF = "avif"
    ZIP = "zip"
    """remove.bg's: ``color.jpg`` (the colour, opaque) and ``alpha.png`` (the matte)."""

    @property
    def media_type(self) -> str:
        return "application/zip" if self is OutputFormat.ZIP else f"image/{self.value}"

    @property
    def has_alpha(self) -> bool:
        return self in (OutputFormat.WEBP, OutputFormat.PNG, OutputFormat.AVIF,
                        OutputFormat.ZIP)

    @property
    def extension(self) -> str:
        return "jpg" if self is OutputFormat.JPEG else self.value


_FORMAT_NAMES = {"webp": OutputFormat.WEBP, "png": OutputFormat.PNG, "jpeg": OutputFormat.JPEG,
                 "jpg": OutputFormat.JPEG, "bmp": OutputFormat.BMP}
_MORE_FORMAT_NAMES = {**_FORMAT_NAMES, "avif": OutputFormat.AVIF, "zip": OutputFormat.ZIP}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


# --- the parsers: text in, a value or the contract's message out ----------------------


def _bounded_int(text: str) -> int:
    """ASCII digits as an int; past 18 digits only the sign matters (a limit refuses it),
    and Python's int() would refuse thousands of digits with a ValueError."""
    digits = text.lstrip("+-").lstrip("0") or "0"
    if len(digits) > 18:
        return -(10**18) if text.startswith("-") else 10**18
    return -int(digits) if text.startswith("-") else int(digits)


def parse_format(raw: str) -> OutputFormat:
    fmt = _FORMAT_NAMES.get(raw.strip().lower())
    if fmt is None:
        raise InvalidField(
            "format", f"Invalid format '{raw}'. Allowed formats: PNG, JPEG, WEBP, BMP"
        )
    return fmt


def parse_any_format(raw: str) -> OutputFormat:
    """The CLI's and the library's formats: the contract's four, and avif and zip."""
    fmt = _MORE_FORMAT_NAMES.get(raw.strip().lower())
    if fmt is None:
        raise InvalidField(
            "format", f"Invalid format '{raw}'. Allowed formats: PNG, JPEG, WEBP, BMP, AVIF, ZIP"
        )
    return fmt


def parse_side(name: str, raw: str) -> int | None:
    """A target width or height; 0 or empty means "not set" (the Node client sends w=0)."""
    text = raw.strip()
    if text == "":
        return None
    if not _INTEGER.fullmatch(text):  # int() also takes "1_000" and non-ASCII digits
        raise InvalidField(name, f"'{name}' must be an integer, got: '{raw}'")
    value = _bounded_int(text)
    if value == 0:
        return None
    if value < 1:
        raise InvalidField(name, f"'{name}' must be at least 1, got: {value}")
    if value > MAX_TARGET_SIDE:
        raise InvalidField(name, f"'{name}' must be at most {MAX_TARGET_SIDE}, got: {value}")
    return value


def parse_given_side(name: str, raw: str) -> int:
    """A side typed on the command line: there is no "not set" to spell, so 0 is refused."""
    value = parse_side(name, raw)
    if value is None:
        shown = raw.strip() or "''"
        raise InvalidField(name, f"'{name}' must be at least 1, got: {shown}")
    return value


def parse_angle(raw: str) -> float:
    text = raw.strip()
    if text == "":
        return 0.0
    if not _DECIMAL.fullmatch(text):  # float() also takes "1_0", "inf" and non-ASCII digits
        raise InvalidField("angle", f"'angle' must be a number, got: '{raw}'")
    value = float(text)
    if math.isnan(value):
        raise InvalidField("angle", f"'angle' must be a number, got: '{raw}'")
    if not -MAX_ANGLE <= value <= MAX_ANGLE:
        raise InvalidField(
            "angle", f"'angle' must be between -360 and 360 degrees, got: {value}"
        )
    return value


def parse_bg_color(raw: str) -> RGBA | None:
    if raw.strip() == "":
        return None
    color = parse_color(raw)
    if color is None:
        raise InvalidField(
            "bg_color",
            f"Invalid color format '{raw}'. Use hex format: #RGB, #RGBA, #RRGGBB, or #RRGGBBAA",
        )
    return color


def parse_bool(name: str, raw: str, default: bool) -> bool:
    text = raw.strip().lower()
    if text == "":
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidField(
        name, f"'{name}' must be a boolean (true/false, 1/0, yes/no), got: '{raw}'"
    )


def parse_switch(name: str, raw: str) -> bool | None:
    """An optional boolean: empty means "the server's setting" (None)."""
    return None if raw.strip() == "" else parse_bool(name, raw, False)


def parse_count(name: str, raw: str, high: int) -> int:
    """A whole number from 0 to ``high``."""
    text = raw.strip()
    if not text.isascii() or not text.isdigit():
        raise InvalidField(name, f"'{name}' must be an integer, got: '{raw}'")
    value = _bounded_int(text)
    if value > high:
        raise InvalidField(name, f"'{name}' must be at most {high}, got: {value}")
    return value


def parse_name(raw: str) -> str | None:
    return raw.strip() or None


def parse_percent(name: str, raw: str) -> int:
    """0 to 100 (a trailing ``%`` allowed)."""
    return parse_count(name, raw.strip().removesuffix("%"), 100)


# --- how one option shows on each surface --------------------------------------------


@dataclass(frozen=True)
class FormField:
    """The option as a RemBG form field: its name, parser, OpenAPI schema and description.
    An empty value is the option's default; the parser sees only non-empty text."""

    name: str
    parse: Callable[[str], Any]
    schema: Mapping[str, Any]
    description: str
    extension: bool = False
    """An alphacut extension (clients of the contract never send it)."""


@dataclass(frozen=True)
class Flag:
    """The option on ``alphacut remove`` (and ``alphacut client remove``).

    ``value``: takes text, parsed by ``parse`` or else the form field's parser (same
    messages);
    ``flag``: present means True, or False when ``inverted`` (``--no-expand``);
    ``switch``: ``--x/--no-x``, absent means the server's setting."""

    decl: str
    help: str
    kind: Literal["value", "flag", "switch"] = "value"
    inverted: bool = False
    parse: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class Control:
    """The option in the web editor: an input in a group (a fieldset; None = above them)."""

    id: str
    label: str
    kind: Literal["select", "number", "checkbox", "color"]
    group: str | None
    attrs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    choices: tuple[tuple[str, str], ...] = ()
    """(value, label) of a select; the first is selected."""


@dataclass(frozen=True)
class Option:
    form: FormField
    flag: Flag | None = None
    control: Control | None = None


def option(default: Any, form: FormField, flag: Flag | None = None,
           control: Control | None = None) -> Any:
    """A field of :class:`RemovalOptions` with its surfaces."""
    return dataclasses.field(default=default,
                             metadata={"option": Option(form, flag, control)})


_BOOL: dict[str, Any] = {"type": "boolean"}
_SERVER_DEFAULT = " Unset = the server's setting."


@dataclass(frozen=True)
class RemovalOptions:
    """Everything that shapes one output. ``None`` width/height mean "not set"; ``None``
    switches mean "the server's setting"."""

    format: OutputFormat = option(
        OutputFormat.WEBP,
        FormField("format", parse_format, {
            "type": "string", "default": "webp",
            "enum": ["webp", "png", "jpeg", "jpg", "bmp", "WEBP", "PNG", "JPEG", "JPG", "BMP"]},
            "Output encoding, any case. JPEG and BMP carry no alpha: the result is composited "
            "on bg_color, or white."),
        Flag("--format", "webp (default), png, jpeg/jpg, bmp, avif, or zip (remove.bg's "
             "color.jpg + alpha.png).", parse=parse_any_format),
        Control("opt-format", "Output format", "select", None, choices=(
            ("png", "PNG (transparent)"), ("webp", "WebP (transparent, smaller)"),
            ("jpg", "JPEG (no transparency)"), ("bmp", "BMP (no transparency)"))),
    )
    width: int | None = option(
        None,
        FormField("w", lambda raw: parse_side("w", raw), {
            "type": "integer", "minimum": 0, "maximum": MAX_TARGET_SIDE, "default": 0},
            "Target width; 0 = not set. Keeps the aspect ratio unless exact_resize."),
        Flag("--width", "Target width (keeps aspect unless --exact-resize).",
             parse=lambda raw: parse_given_side("w", raw)),
        Control("opt-w", "Width (px)", "number", "Size",
                {"min": "1", "max": str(MAX_TARGET_SIDE), "inputmode": "numeric"}),
    )
    height: int | None = option(
        None,
        FormField("h", lambda raw: parse_side("h", raw), {
            "type": "integer", "minimum": 0, "maximum": MAX_TARGET_SIDE, "default": 0},
            "Target height; 0 = not set."),
        Flag("--height", "Target height.", parse=lambda raw: parse_given_side("h", raw)),
        Control("opt-h", "Height (px)", "number", "Size",
                {"min": "1", "max": str(MAX_TARGET_SIDE), "inputmode": "numeric"}),
    )
    angle: float = option(
        0.0,
        FormField("angle", parse_angle, {
            "type": "number", "minimum": -MAX_ANGLE, "maximum": MAX_ANGLE, "default": 0},
            "Rotate the result counter-clockwise by this many degrees."),
        Flag("--angle", "Rotate the result counter-clockwise, in degrees."),
        Control("opt-angle", "Angle (degrees, −360 to 360)", "number", "Rotation",
                {"min": "-360", "max": "360", "step": "any", "value": "0"}),
    )
    bg_color: RGBA | None = option(
        None,
        FormField("bg_color", parse_bg_color, {"type": "string", "default": ""},
                  "Solid background: #RGB, #RGBA, #RRGGBB, #RRGGBBAA or a CSS colour name "
                  "(e.g. #ffffff, #0f08, red). Not allowed with mask=true."),
        Flag("--bg-color", "Solid background: #RGB[A], #RRGGBB[AA], CSS name."),
        Control("opt-bg", "Colour as text", "color", "Output"),
    )
    exact_resize: bool = option(
        False,
        FormField("exact_resize", lambda raw: parse_bool("exact_resize", raw, False),
                  {**_BOOL, "default": False}, "Force exactly w x h (may distort)."),
        Flag("--exact-resize", "Force exactly width x height.", "flag"),
        Control("opt-exact", "Exactly this size (may distort)", "checkbox", "Size"),
    )
    mask: bool = option(
        False,
        FormField("mask", lambda raw: parse_bool("mask", raw, False),
                  {**_BOOL, "default": False},
                  "Return only the alpha mask (8-bit grayscale)."),
        Flag("--mask", "Write only the alpha mask (grayscale).", "flag"),
        Control("opt-mask", "Only the mask (black and white)", "checkbox", "Output"),
    )
    expand: bool = option(
        True,
        FormField("expand", lambda raw: parse_bool("expand", raw, True),
                  {**_BOOL, "default": True},
                  "Grow the canvas so a rotated result is not cropped."),
        Flag("--no-expand", "Keep the canvas size when rotating (crops).", "flag",
             inverted=True),
        Control("opt-expand", "Enlarge the canvas so nothing is cut off", "checkbox",
                "Rotation"),
    )
    feather: int = option(
        0,
        FormField("feather", lambda raw: parse_count("feather", raw, MAX_FEATHER), {
            "type": "integer", "minimum": 0, "maximum": MAX_FEATHER, "default": 0},
            "alphacut extension: soften the cut-out's edge over this many pixels of the "
            "result (a Gaussian-like falloff on each side of the edge); 0 = a crisp edge.",
            extension=True),
        Flag("--feather", "Soften the edge over this many px of the result (0 = off)."),
        Control("opt-feather", "Feather the edge (px)", "number", "Edges",
                {"min": "0", "max": str(MAX_FEATHER), "value": "0", "inputmode": "numeric"}),
    )
    roi: Roi | None = option(
        None,
        FormField("roi", parse_roi, {"type": "string", "default": "0% 0% 100% 100%"},
                  "Layout extension (remove.bg's): region of interest 'x1 y1 x2 y2', each in px "
                  "or % of the image; only pixels inside can be foreground.", extension=True),
        Flag("--roi", "Only this region can be foreground: 'x1 y1 x2 y2' (px or %)."),
    )
    crop: bool = option(
        False,
        FormField("crop", lambda raw: parse_bool("crop", raw, False),
                  {**_BOOL, "default": False},
                  "Layout extension (remove.bg's): crop the canvas to the subject (plus "
                  "crop_margin).", extension=True),
        Flag("--crop", "Crop to the subject (plus --crop-margin).", "flag"),
        Control("opt-crop", "Crop to the subject", "checkbox", "Layout"),
    )
    crop_margin: Margin | None = option(
        None,
        FormField("crop_margin", parse_margin, {"type": "string", "default": "0"},
                  "Layout extension (remove.bg's): margin around the cropped subject, 1, 2 or "
                  "4 values (CSS order) in px or % of the subject, each at most 500px or 50%; "
                  "only with crop.", extension=True),
        Flag("--crop-margin", "Margin around the cropped subject: 1, 2 or 4 values, px or %."),
        Control("opt-crop-margin", "Margin around the subject (px)", "number", "Layout",
                {"min": "0", "max": str(MAX_MARGIN_PX), "value": "0", "inputmode": "numeric"}),
    )
    scale: float | None = option(
        None,
        FormField("scale", parse_scale, {"type": "string", "default": "original"},
                  "Layout extension (remove.bg's): the subject's size against the canvas, "
                  "10%-100%, or original; implies position=center unless given.",
                  extension=True),
        Flag("--scale", "Subject size against the canvas: 10%-100% or original."),
    )
    position: Position | None = option(
        None,
        FormField("position", parse_position, {"type": "string", "default": "original"},
                  "Layout extension (remove.bg's): original, center, or one or two of 0%-100% "
                  "(horizontal, vertical).", extension=True),
        Flag("--position", "Subject position: original, center, or 'X% Y%'."),
    )
    shadow: bool = option(
        False,
        FormField("add_shadow", lambda raw: parse_bool("add_shadow", raw, False),
                  {**_BOOL, "default": False},
                  "Layout extension (remove.bg's): a soft contact shadow under the subject "
                  "(any subject), below it in the final image (docs/layout.md).",
                  extension=True),
        Flag("--shadow", "Add a soft contact shadow under the subject.", "flag"),
        Control("opt-shadow", "Add a soft shadow", "checkbox", "Layout"),
    )
    shadow_opacity: int = option(
        DEFAULT_SHADOW_OPACITY,
        FormField("shadow_opacity", lambda raw: parse_percent("shadow_opacity", raw), {
            "type": "integer", "minimum": 0, "maximum": 100,
            "default": DEFAULT_SHADOW_OPACITY},
            "alphacut extension: the shadow's darkness, 0-100.", extension=True),
        Flag("--shadow-opacity", "Shadow darkness, 0-100 (default 50)."),
    )
    shadow_softness: int | None = option(
        None,
        FormField("shadow_softness", lambda raw: parse_count("shadow_softness", raw,
                                                             MAX_SHADOW_SOFTNESS), {
            "type": "integer", "minimum": 0, "maximum": MAX_SHADOW_SOFTNESS},
            "alphacut extension: the shadow's blur in px of the result; unset = 4% of the "
            "subject's width.", extension=True),
        Flag("--shadow-softness", "Shadow blur in px of the result (default: 4% of the "
             "subject's width)."),
    )
    semitransparency: bool = option(
        True,
        FormField("semitransparency", lambda raw: parse_bool("semitransparency", raw, True),
                  {**_BOOL, "default": True},
                  "Extension (remove.bg's): false = no semi-transparent pixels (alpha cut at "
                  "50%).", extension=True),
    )
    model: str | None = option(
        None,
        FormField("model", parse_name, {"type": "string", "default": "u2netp"},
                  "alphacut extension: the model to use (see the operator's `alphacut models "
                  "list`). Unknown names answer 400.", extension=True),
        Flag("--model", "Model name (see `alphacut models list`)."),
    )
    refine: bool | None = option(
        None,
        FormField("refine", lambda raw: parse_switch("refine", raw), _BOOL,
                  "alphacut extension: refine the mask's edges against the full-size photo "
                  "(docs/quality.md); false = rembg's plain upscaled mask." + _SERVER_DEFAULT,
                  extension=True),
        Flag("--refine/--no-refine", "Refine edges against the full-size image "
             "(default: ALPHACUT_REFINE, on).", "switch"),
        Control("opt-refine", "Follow the photo's edges (refine)", "checkbox", "Edges"),
    )
    decontaminate: bool | None = option(
        None,
        FormField("decontaminate", lambda raw: parse_switch("decontaminate", raw), _BOOL,
                  "alphacut extension: give semi-transparent edge pixels the subject's colour "
                  "instead of the old background's (no halo on a new background)."
                  + _SERVER_DEFAULT, extension=True),
        Flag("--decontaminate/--no-decontaminate", "Subject colours in soft edge pixels "
             "(default: ALPHACUT_DECONTAMINATE, on).", "switch"),
        Control("opt-decontaminate", "Remove the old background's colour from the edges",
                "checkbox", "Edges"),
    )
    tta: bool | None = option(
        None,
        FormField("tta", lambda raw: parse_switch("tta", raw), _BOOL,
                  "alphacut extension: test-time augmentation, the mean of the mask and its "
                  "mirror image's mask; better masks for twice the inference time."
                  + _SERVER_DEFAULT, extension=True),
        Flag("--tta/--no-tta", "Average with the mirror image's mask (default: ALPHACUT_TTA, "
             "off).", "switch"),
        Control("opt-tta", "Look twice (mirror image): better masks, slower", "checkbox",
                "Edges"),
    )

    # Set by the remove.bg API (and the library), not a RemBG form field:
    max_pixels: int | None = None
    """remove.bg's ``size``: the result is shrunk (never enlarged) to at most this many
    pixels, after the layout and before ``w``/``h``."""
    bg_image: bytes | None = None
    """A background image (any input format), scaled to cover the canvas."""


def options_of() -> Iterator[tuple[str, Option]]:
    """Each option's field name and surfaces, in declaration order."""
    for spec in dataclasses.fields(RemovalOptions):
        if "option" in spec.metadata:
            yield spec.name, spec.metadata["option"]


def default_of(name: str) -> Any:
    return {spec.name: spec.default for spec in dataclasses.fields(RemovalOptions)}[name]


def check_rules(options: RemovalOptions, errors: FieldErrors) -> None:
    """The rules that span fields."""
    if options.mask and options.bg_color is not None:
        errors.add(InvalidField(
            "mask", "Cannot use 'mask=true' together with 'bg_color'. Choose one or the other."
        ))


def parse_options(fields: Mapping[str, str]) -> RemovalOptions:
    """Parse the contract's form fields. Unknown fields (``return_base64``...) are ignored."""
    errors = FieldErrors()
    values: dict[str, Any] = {}
    for name, spec in options_of():
        raw = fields.get(spec.form.name) or ""
        if raw.strip():
            values[name] = errors.attempt(partial(spec.form.parse, raw), default_of(name))
    options = RemovalOptions(**values)
    check_rules(options, errors)
    errors.raise_any()
    return options


def build_options(values: Mapping[str, Any]) -> RemovalOptions:
    """Options from values already parsed (the CLI's flags), with the rules that span
    fields checked as the form's are."""
    options = RemovalOptions(**values)
    errors = FieldErrors()
    check_rules(options, errors)
    errors.raise_any()
    return options
