"""Every field rule of the contract, with its message byte for byte."""

from __future__ import annotations

import pytest

from alphacut.domain.colors import parse_color
from alphacut.domain.options import OutputFormat, RemovalOptions, parse_options
from alphacut.errors import InvalidField, MultipleValidationErrors


def error_of(fields: dict[str, str]) -> InvalidField:
    with pytest.raises(InvalidField) as caught:
        parse_options(fields)
    return caught.value


def test_defaults_match_the_contract() -> None:
    assert parse_options({}) == RemovalOptions(
        format=OutputFormat.WEBP, width=None, height=None, exact_resize=False, mask=False,
        bg_color=None, angle=0.0, expand=True,
    )


def test_what_the_node_client_sends_is_accepted() -> None:
    options = parse_options({"w": "0", "h": "0", "exact_resize": "false", "mask": "false",
                             "expand": "true", "return_base64": "true", "format": "PNG"})
    assert options.format is OutputFormat.PNG
    assert (options.width, options.height) == (None, None)


@pytest.mark.parametrize(("raw", "fmt"), [
    ("webp", OutputFormat.WEBP), ("PNG", OutputFormat.PNG), ("Jpg", OutputFormat.JPEG),
    ("jpeg", OutputFormat.JPEG), ("bmp", OutputFormat.BMP),
])
def test_format_any_case(raw: str, fmt: OutputFormat) -> None:
    assert parse_options({"format": raw}).format is fmt


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"format": "gif"}, "format", "Invalid format 'gif'. Allowed formats: PNG, JPEG, WEBP, BMP"),
    ({"w": "abc"}, "w", "'w' must be an integer, got: 'abc'"),
    ({"h": "1.5"}, "h", "'h' must be an integer, got: '1.5'"),
    ({"w": "-5"}, "w", "'w' must be at least 1, got: -5"),
    ({"w": "15000"}, "w", "'w' must be at most 10000, got: 15000"),
    ({"h": "15000"}, "h", "'h' must be at most 10000, got: 15000"),
    ({"angle": "ninety"}, "angle", "'angle' must be a number, got: 'ninety'"),
    ({"angle": "nan"}, "angle", "'angle' must be a number, got: 'nan'"),
    ({"angle": "500"}, "angle", "'angle' must be between -360 and 360 degrees, got: 500.0"),
    ({"angle": "-360.5"}, "angle",
     "'angle' must be between -360 and 360 degrees, got: -360.5"),
    ({"bg_color": "#12345"}, "bg_color",
     "Invalid color format '#12345'. Use hex format: #RGB, #RGBA, #RRGGBB, or #RRGGBBAA"),
    ({"bg_color": "notacolor"}, "bg_color",
     "Invalid color format 'notacolor'. Use hex format: #RGB, #RGBA, #RRGGBB, or #RRGGBBAA"),
    ({"mask": "true", "bg_color": "red"}, "mask",
     "Cannot use 'mask=true' together with 'bg_color'. Choose one or the other."),
    ({"mask": "maybe"}, "mask", "'mask' must be a boolean (true/false, 1/0, yes/no), got: 'maybe'"),
])
def test_each_field_error(fields: dict[str, str], field: str, message: str) -> None:
    err = error_of(fields)
    assert (err.field, err.message, err.status) == (field, message, 400)
    assert err.to_body() == {"error": message, "status": 400}


def test_several_errors_are_reported_together() -> None:
    with pytest.raises(MultipleValidationErrors) as caught:
        parse_options({"w": "abc", "angle": "500"})
    assert caught.value.to_body() == {
        "error": "Multiple validation errors",
        "details": [
            {"field": "w", "message": "'w' must be an integer, got: 'abc'"},
            {"field": "angle",
             "message": "'angle' must be between -360 and 360 degrees, got: 500.0"},
        ],
        "status": 400,
    }


@pytest.mark.parametrize("raw", ["true", "TRUE", "1", "yes", "Yes"])
def test_true_booleans(raw: str) -> None:
    assert parse_options({"mask": raw, "exact_resize": raw}).mask is True


@pytest.mark.parametrize("raw", ["false", "False", "0", "no", "NO"])
def test_false_booleans(raw: str) -> None:
    assert parse_options({"expand": raw}).expand is False


def test_sizes_and_angle_parse() -> None:
    options = parse_options({"w": "640", "h": " 480 ", "angle": "-90.5", "exact_resize": "1"})
    assert (options.width, options.height, options.angle, options.exact_resize) == (
        640, 480, -90.5, True)


@pytest.mark.parametrize(("text", "rgba"), [
    ("#f00", (255, 0, 0, 255)), ("#f008", (255, 0, 0, 136)),
    ("#00ff00", (0, 255, 0, 255)), ("#0000ff80", (0, 0, 255, 128)),
    ("red", (255, 0, 0, 255)), ("RebeccaPurple", (102, 51, 153, 255)),
    ("#12345", None), ("#ggg", None), ("bluish", None), ("", None),
])
def test_colors(text: str, rgba: tuple[int, int, int, int] | None) -> None:
    assert parse_color(text) == rgba
