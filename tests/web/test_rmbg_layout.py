"""The layout extension fields on POST /rmbg (the same stage as remove.bg's API), the
subject's box on every answer, and the contract's formats kept exactly."""

from __future__ import annotations

import io

import httpx
import numpy as np
from PIL import Image

from tests.conftest import fixture_bytes

PHOTO = fixture_bytes("horse_on_grass")


def rmbg(client: httpx.Client, data: dict[str, str] | None = None,
         image: bytes = PHOTO, name: str = "photo.jpg") -> httpx.Response:
    return client.post("/rmbg", files={"image": (name, image)}, data=data or {})


def box(response: httpx.Response) -> tuple[int, int, int, int]:
    h = response.headers
    return (int(h["X-Foreground-Left"]), int(h["X-Foreground-Top"]),
            int(h["X-Foreground-Width"]), int(h["X-Foreground-Height"]))


def test_every_answer_reports_the_subjects_box(client: httpx.Client) -> None:
    response = rmbg(client, {"format": "png"})
    assert response.status_code == 200
    left, top, width, height = box(response)
    alpha = np.asarray(Image.open(io.BytesIO(response.content)).getchannel("A"))
    ys, xs = np.nonzero(alpha >= 13)
    assert (left, top, left + width, top + height) == (xs.min(), ys.min(), xs.max() + 1,
                                                      ys.max() + 1)


def test_crop_with_a_margin_then_resize(client: httpx.Client) -> None:
    response = rmbg(client, {"format": "png", "crop": "true", "crop_margin": "10"})
    image = Image.open(io.BytesIO(response.content))
    left, top, width, height = box(response)
    assert (left, top) == (10, 10) and image.size == (width + 20, height + 20)
    # The resize comes after the crop: w applies to the cropped canvas.
    resized = rmbg(client, {"format": "png", "crop": "true", "w": "100"})
    assert Image.open(io.BytesIO(resized.content)).width == 100


def test_shadow_on_rmbg_stays_below_even_when_rotated(client: httpx.Client) -> None:
    data = {"format": "png", "crop": "true", "crop_margin": "60px", "angle": "90",
            "add_shadow": "true", "shadow_opacity": "80"}
    response = rmbg(client, data)
    assert response.status_code == 200
    _, top, _, height = box(response)
    bottom = top + height
    alpha = np.asarray(Image.open(io.BytesIO(response.content)).getchannel("A")).astype(int)
    plain = rmbg(client, {**data, "add_shadow": "false"})
    base = np.asarray(Image.open(io.BytesIO(plain.content)).getchannel("A")).astype(int)
    assert (alpha[:top + height // 3] == base[:top + height // 3]).all()  # nothing above
    assert base[bottom + 2:bottom + 20].max() < 13
    assert alpha[bottom + 2:bottom + 20].max() > 40  # the shadow, below the rotated subject


def test_layout_errors_use_the_contracts_shape(client: httpx.Client) -> None:
    response = rmbg(client, {"roi": "0 0 200% 50%"})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and "roi" in body["error"]
    margin = rmbg(client, {"crop_margin": "501px"}).json()
    assert margin == {"error": "Each 'crop_margin' is at most 500px, got: 501px",
                      "status": 400}


def test_rmbg_keeps_the_contracts_formats(client: httpx.Client) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (20, 20), (255, 0, 0)).save(gif, "GIF")
    refused = rmbg(client, image=gif.getvalue(), name="x.png")
    assert refused.json() == {
        "error": "File does not appear to be a valid image (invalid file signature)",
        "status": 400}
    avif = rmbg(client, {"format": "avif"})
    assert avif.json() == {
        "error": "Invalid format 'avif'. Allowed formats: PNG, JPEG, WEBP, BMP", "status": 400}


def test_every_answer_says_how_unsure_the_model_was_and_which_model(
        client: httpx.Client) -> None:
    response = rmbg(client, {"format": "png"})
    assert 0.0 <= float(response.headers["X-Uncertainty-Score"]) <= 1.0
    assert response.headers["X-Model"] == "u2netp"
    flat = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(flat, "PNG")
    unsure = rmbg(client, {"format": "png"}, image=flat.getvalue(), name="flat.png")
    # A photo with a clear subject is scored confident, a featureless grey square unsure.
    assert float(response.headers["X-Uncertainty-Score"]) < 0.5
    assert float(unsure.headers["X-Uncertainty-Score"]) > 0.9
