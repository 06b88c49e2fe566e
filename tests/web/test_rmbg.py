"""POST /rmbg over real HTTP: every non-account row of the contract's error table, exactly,
and every field on success."""

from __future__ import annotations

import io

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import (
    decode_bytes,
    encoded,
    fixture_bytes,
    ground_truth,
    iou,
    png_claiming,
)

JPEG = fixture_bytes("horse_on_grass")


def post(client: httpx.Client, data: dict[str, str] | None = None,
         files: dict[str, tuple[str, bytes] | tuple[str, bytes, str]] | None = None
         ) -> httpx.Response:
    return client.post("/rmbg", data=data or {}, files=files)


ERROR_ROWS = [
    pytest.param({}, None,
                 "No image file provided. Please include an 'image' field in your form data.",
                 id="no-image"),
    pytest.param({}, {"image": ("virus.exe", JPEG)},
                 "File type '.exe' is not supported. Allowed formats: webp, bmp, png, jpg, jpeg",
                 id="extension"),
    pytest.param({}, {"image": ("a.png", b"GIF89a" + bytes(100))},
                 "File does not appear to be a valid image (invalid file signature)",
                 id="signature"),
    pytest.param({}, {"image": ("a.png", b"")}, "Uploaded file is empty (0 bytes).", id="empty"),
    pytest.param({}, {"image": ("a.png", png_claiming(12000, 100))},
                 "Image width (12000px) exceeds the maximum allowed width of 10000px.",
                 id="too-wide"),
    pytest.param({}, {"image": ("a.png", png_claiming(100, 15000))},
                 "Image height (15000px) exceeds the maximum allowed height of 10000px.",
                 id="too-tall"),
    pytest.param({"w": "abc"}, {"image": ("a.jpg", JPEG)},
                 "'w' must be an integer, got: 'abc'", id="w-integer"),
    pytest.param({"w": "-5"}, {"image": ("a.jpg", JPEG)},
                 "'w' must be at least 1, got: -5", id="w-min"),
    pytest.param({"h": "15000"}, {"image": ("a.jpg", JPEG)},
                 "'h' must be at most 10000, got: 15000", id="h-max"),
    pytest.param({"angle": "ninety"}, {"image": ("a.jpg", JPEG)},
                 "'angle' must be a number, got: 'ninety'", id="angle-number"),
    pytest.param({"angle": "500"}, {"image": ("a.jpg", JPEG)},
                 "'angle' must be between -360 and 360 degrees, got: 500.0", id="angle-range"),
    pytest.param({"format": "gif"}, {"image": ("a.jpg", JPEG)},
                 "Invalid format 'gif'. Allowed formats: PNG, JPEG, WEBP, BMP", id="format"),
    pytest.param({"bg_color": "#12345"}, {"image": ("a.jpg", JPEG)},
                 "Invalid color format '#12345'. Use hex format: #RGB, #RGBA, #RRGGBB, or "
                 "#RRGGBBAA", id="bg-color"),
    pytest.param({"mask": "true", "bg_color": "red"}, {"image": ("a.jpg", JPEG)},
                 "Cannot use 'mask=true' together with 'bg_color'. Choose one or the other.",
                 id="mask-and-color"),
    # alphacut's extension fields follow the contract's boolean rules.
    pytest.param({"refine": "maybe"}, {"image": ("a.jpg", JPEG)},
                 "'refine' must be a boolean (true/false, 1/0, yes/no), got: 'maybe'",
                 id="refine-boolean"),
    pytest.param({"tta": "2"}, {"image": ("a.jpg", JPEG)},
                 "'tta' must be a boolean (true/false, 1/0, yes/no), got: '2'",
                 id="tta-boolean"),
    pytest.param({"feather": "101"}, {"image": ("a.jpg", JPEG)},
                 "'feather' must be at most 100, got: 101", id="feather-range"),
    pytest.param({"feather": "-2"}, {"image": ("a.jpg", JPEG)},
                 "'feather' must be an integer, got: '-2'", id="feather-integer"),
]


@pytest.mark.parametrize(("data", "files", "message"), ERROR_ROWS)
def test_error_row(client: httpx.Client, data: dict[str, str],
                   files: dict[str, tuple[str, bytes]] | None, message: str) -> None:
    reply = post(client, data, files)
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"error": message, "status": 400}


def test_empty_file_name_is_no_file_selected(client: httpx.Client) -> None:
    """What a browser sends for a file input left empty (httpx cannot send filename="")."""
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n\r\n--XyZ--\r\n")
    reply = client.post("/rmbg", content=body,
                        headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert reply.status_code == 400
    assert reply.json() == {
        "error": "No file selected. Please choose an image file to upload.", "status": 400}


def test_image_part_without_file_name_is_read_by_its_signature(client: httpx.Client) -> None:
    reply = client.post("/rmbg", content=b"--XyZ\r\nContent-Disposition: form-data; "
                        b"name=\"image\"\r\n\r\n" + JPEG + b"\r\n--XyZ--\r\n",
                        headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/webp"


def test_multiple_validation_errors(client: httpx.Client) -> None:
    reply = post(client, {"w": "abc", "angle": "500"}, {"image": ("a.jpg", JPEG)})
    assert reply.status_code == 400
    assert reply.json() == {
        "error": "Multiple validation errors",
        "details": [
            {"field": "w", "message": "'w' must be an integer, got: 'abc'"},
            {"field": "angle",
             "message": "'angle' must be between -360 and 360 degrees, got: 500.0"},
        ],
        "status": 400,
    }


def test_not_multipart_is_no_image(client: httpx.Client) -> None:
    reply = client.post("/rmbg", json={"image": "x"})
    assert reply.json() == {"error": "No image file provided. Please include an 'image' field "
                                     "in your form data.", "status": 400}


def test_default_answer_is_webp_cutout_with_headers(client: httpx.Client) -> None:
    reply = post(client, files={"image": ("horse.jpg", JPEG)})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/webp"
    assert (reply.headers["x-width"], reply.headers["x-height"]) == ("640", "480")
    assert len(reply.headers["x-request-id"]) == 32
    timing = reply.headers["server-timing"]
    assert all(f"{stage};dur=" in timing for stage in ("decode", "inference", "encode"))
    image = decode_bytes(reply.content)
    assert image.mode == "RGBA"
    assert iou(np.asarray(image.getchannel("A")) > 127, ground_truth("horse_on_grass")) > 0.89


def test_what_the_node_client_sends(client: httpx.Client) -> None:
    """A Buffer named image.png holding JPEG bytes, w=0/h=0, return_base64, format 'PNG'."""
    reply = post(client, {"w": "0", "h": "0", "exact_resize": "false", "mask": "false",
                          "expand": "true", "return_base64": "true", "format": "PNG"},
                 {"image": ("image.png", JPEG, "image/png")})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/png"
    assert reply.content.startswith(b"\x89PNG")
    assert decode_bytes(reply.content).size == (640, 480)


def test_every_field_at_once(client: httpx.Client) -> None:
    reply = post(client, {"format": "jpg", "w": "320", "h": "320", "exact_resize": "true",
                          "mask": "false", "bg_color": "#00ff00", "angle": "90",
                          "expand": "false"},
                 {"image": ("horse.jpg", JPEG, "image/jpeg")})
    assert reply.status_code == 200, reply.text
    image = decode_bytes(reply.content)
    assert (reply.headers["content-type"], image.format, image.size) == (
        "image/jpeg", "JPEG", (320, 320))


@pytest.mark.parametrize(("fmt", "media", "mode"), [
    ("webp", "image/webp", "RGBA"), ("png", "image/png", "RGBA"),
    ("jpeg", "image/jpeg", "RGB"), ("bmp", "image/bmp", "RGB"),
])
def test_each_format(client: httpx.Client, fmt: str, media: str, mode: str) -> None:
    reply = post(client, {"format": fmt, "w": "160"}, {"image": ("h.jpg", JPEG)})
    assert reply.headers["content-type"] == media
    assert decode_bytes(reply.content).mode == mode


def test_mask(client: httpx.Client) -> None:
    reply = post(client, {"mask": "1", "format": "png"}, {"image": ("h.jpg", JPEG)})
    mask = decode_bytes(reply.content)
    assert mask.mode == "L"
    assert iou(np.asarray(mask) > 127, ground_truth("horse_on_grass")) > 0.89


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP"])
def test_other_input_kinds(client: httpx.Client, fmt: str) -> None:
    photo = Image.open(io.BytesIO(JPEG))
    reply = post(client, {"format": "png"}, {"image": (f"x.{fmt.lower()}", encoded(photo, fmt))})
    assert reply.status_code == 200
    assert decode_bytes(reply.content).size == (640, 480)


def test_file_over_50_mb_streams_and_is_refused(client: httpx.Client) -> None:
    size = int(55.2 * 1024 * 1024)
    reply = post(client, files={"image": ("big.png", b"\x89PNG\r\n\x1a\n" + bytes(size - 8))})
    assert reply.status_code == 400
    assert reply.json() == {
        "error": "File size (55.2 MB) exceeds the maximum allowed size of 50 MB.", "status": 400}


def alpha_and_rgb(content: bytes) -> tuple[np.ndarray, np.ndarray]:
    rgba = np.asarray(decode_bytes(content).convert("RGBA"))
    return rgba[..., 3].astype(int), rgba[..., :3].astype(int)


def test_refinement_fields_switch_the_steps(client: httpx.Client) -> None:
    """Unset = the server's settings (refine and decontaminate on); false = rembg's plain
    mask; each field changes only what it is about."""
    files = {"image": ("h.jpg", JPEG)}
    default = post(client, {"format": "png"}, files)
    both = post(client, {"format": "png", "refine": "true", "decontaminate": "yes"}, files)
    plain = post(client, {"format": "png", "refine": "false", "decontaminate": "0"}, files)
    assert default.content == both.content
    refined_alpha, _ = alpha_and_rgb(default.content)
    plain_alpha, _ = alpha_and_rgb(plain.content)
    # Refinement follows the photo: a narrower soft band than the upscaled model's (at the
    # default hardness 0.25 it keeps soft what the photo shows soft), the subject the same.
    soft = lambda a: ((a > 12) & (a < 243)).mean()  # noqa: E731
    assert soft(refined_alpha) < 0.8 * soft(plain_alpha)
    truth = ground_truth("horse_on_grass")
    assert iou(refined_alpha > 127, truth) > 0.88 and iou(plain_alpha > 127, truth) > 0.9
    # Decontamination changes colours of soft pixels only, never the alpha.
    kept = post(client, {"format": "png", "decontaminate": "false"}, files)
    kept_alpha, kept_rgb = alpha_and_rgb(kept.content)
    _, cleaned_rgb = alpha_and_rgb(default.content)
    assert (kept_alpha == refined_alpha).all()
    changed = (kept_rgb != cleaned_rgb).any(axis=2)
    assert changed.any() and ((refined_alpha[changed] > 0) & (refined_alpha[changed] < 255)).all()


def test_feather_softens_only_the_edge_in_pixels_of_the_result(client: httpx.Client) -> None:
    files = {"image": ("h.jpg", JPEG)}  # 640 x 480, asked for at 320 wide
    crisp, soft = (np.asarray(decode_bytes(post(client, {
        "format": "png", "mask": "true", "w": "320", "feather": feather}, files).content))
        for feather in ("0", "4"))
    assert soft.shape == crisp.shape == (240, 320)
    band = lambda a: (a > 12) & (a < 243)  # noqa: E731
    assert band(soft).sum() > 1.5 * band(crisp).sum()  # a wider soft band...
    edge = cv2.morphologyEx(crisp, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    near = cv2.dilate(edge.astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
    assert not (band(soft) & ~near).any()  # ...within about 4 px (of the result) of the edge
    inside = cv2.erode((crisp == 255).astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
    assert inside.sum() > 1000 and (soft[inside] == 255).all()  # and the inside untouched


def test_tta_field_averages_the_mirror_images_mask(client: httpx.Client) -> None:
    files = {"image": ("h.jpg", JPEG)}
    once = post(client, {"format": "png", "mask": "true"}, files)
    twice = post(client, {"format": "png", "mask": "true", "tta": "true"}, files)
    assert once.content != twice.content
    assert iou(np.asarray(decode_bytes(twice.content)) > 127,
               ground_truth("horse_on_grass")) > 0.88
