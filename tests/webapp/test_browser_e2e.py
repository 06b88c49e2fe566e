"""The issue's proof, in Debian's headless Chromium against a live server and an SMTP sink:
sign up → the mail → verify → log in → create a key (used with httpx) → revoke it → the
editor cuts out a fixture → its background is transparent where the ground truth says
background → the account page shows one more app image. Screenshots of each page go to
artifacts/webapp/ (git-ignored)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.browser import launch_chromium
from tests.conftest import FIXTURES, fixture_bytes, ground_truth
from tests.web.conftest import Served
from tests.webapp.conftest import ARTIFACTS, PASSWORD, Sink

PHOTO = "horse_on_grass"
TIMEOUT_MS = 60_000  # a shared 2-core machine: generous, never a timing assertion


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_chromium()


@pytest.fixture(scope="module")
def site(served: Callable[..., AbstractContextManager[Served]],
         smtp_sink: Sink) -> Iterator[Served]:
    with served(smtp_host="127.0.0.1", smtp_port=smtp_sink.port, smtp_tls="none") as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def app_images_this_month(page: Page) -> int:
    return int(page.locator("#usage-month .app").inner_text())


def test_sign_up_to_cut_out(page: Page, site: Served, smtp_sink: Sink, tmp_path: Path) -> None:
    email = "e2e@example.com"
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(f"{site.base}/signup")
    shot(page, "01-signup")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    shot(page, "02-check-inbox")

    page.goto(smtp_sink.wait_link(email, "/verify"))
    expect(page.get_by_role("heading", name="Address confirmed")).to_be_visible()
    shot(page, "03-verified")

    page.goto(f"{site.base}/login")
    shot(page, "04-login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    before = app_images_this_month(page)
    shot(page, "05-account")

    page.get_by_role("button", name="Create a key").click()
    key = page.locator("#new-key").input_value()
    assert key.startswith("ac_")
    shot(page, "06-key-created")
    with httpx.Client(base_url=site.base, timeout=120) as http:
        used = http.post("/rmbg", headers={"x-api-key": key},
                         files={"image": ("coffee.jpg", fixture_bytes("coffee"))},
                         data={"w": "64"})
        assert used.status_code == 200
        usage = http.get("/api/membership-usage", headers={"x-api-key": key}).json()
        assert usage["api_usage"] == 1
        page.reload()  # a plain GET now: the secret is gone, the key listed by its prefix
        assert key not in page.content()
        row = page.locator(f'tr[data-prefix="{key[:11]}"]')
        expect(row).not_to_contain_text("never")  # its last use is recorded
        row.get_by_role("button", name=f"Revoke key {key[:11]}").click()
        expect(page.get_by_role("status")).to_contain_text(f"Key {key[:11]} revoked")
        shot(page, "07-key-revoked")
        refused = http.post("/rmbg", headers={"x-api-key": key},
                            files={"image": ("coffee.jpg", fixture_bytes("coffee"))})
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid api key")

    record_forms(page)
    page.goto(f"{site.base}/")
    page.locator("#opt-tta").check()  # the Edges panel reaches the server
    page.locator("#files").set_input_files(str(FIXTURES / "images" / f"{PHOTO}.jpg"))
    item = page.locator("#results .item").first
    expect(item.locator(".state")).to_have_text("Done", timeout=120_000)
    sent = dict(page.evaluate("window.__sent")[0])
    assert {k: sent[k] for k in ("refine", "decontaminate", "tta")} == {
        "refine": "true", "decontaminate": "true", "tta": "true"}
    with page.expect_download() as caught:
        item.locator("a.download").click()
    saved = tmp_path / caught.value.suggested_filename
    caught.value.save_as(saved)
    assert saved.name == f"{PHOTO}-cutout.png"
    check_transparent_background(saved.read_bytes())
    with page.expect_download() as zipped:
        page.get_by_role("button", name="Download all (zip)").click()
    zipped.value.save_as(tmp_path / "all.zip")
    check_zip(tmp_path / "all.zip", saved.read_bytes())
    shot(page, "08-editor-result")
    result_url = item.locator("a.download").get_attribute("href")
    assert result_url and result_url.startswith("blob:")
    assert blob_state(page, result_url) == "alive"
    item.get_by_role("button", name=f"Remove {PHOTO}-cutout.png").click()
    expect(page.locator("#results .item")).to_have_count(0)
    expect(page.get_by_role("button", name="Download all (zip)")).to_be_disabled()
    seen = len(problems)
    assert blob_state(page, result_url) == "released"  # URL.revokeObjectURL freed it
    problems[seen:] = [p for p in problems[seen:] if "net::ERR_" not in p]  # that load

    page.goto(f"{site.base}/account")
    assert app_images_this_month(page) == before + 1
    shot(page, "09-account-usage")
    assert problems == []


def record_forms(page: Page) -> None:
    """Record the text fields of each form the editor sends in ``window.__sent``
    (Playwright does not show multipart bodies holding a file)."""
    page.add_init_script("""(() => { const send = XMLHttpRequest.prototype.send;
        window.__sent = [];
        XMLHttpRequest.prototype.send = function (body) {
          if (body instanceof FormData) {
            window.__sent.push([...body.entries()].filter(([, v]) => typeof v === "string"));
          }
          return send.call(this, body); }; })()""")


def test_crop_and_its_margin_reach_the_server(page: Page, site: Served) -> None:
    """The Layout panel: the margin wakes up with crop, and the result is the subject's
    box (the server's X-Foreground-*) with 10 px all round."""
    record_forms(page)
    page.goto(f"{site.base}/")
    margin = page.get_by_label("Margin around the subject (px)")
    expect(margin).to_be_disabled()
    page.get_by_label("Crop to the subject").check()
    margin.fill("10")
    with page.expect_response(lambda r: r.url.endswith("/rmbg")) as answered:
        page.locator("#files").set_input_files(str(FIXTURES / "images" / f"{PHOTO}.jpg"))
    item = page.locator("#results .item").first
    expect(item.locator(".state")).to_have_text("Done", timeout=120_000)
    sent = dict(page.evaluate("window.__sent")[0])
    assert {k: sent[k] for k in ("crop", "crop_margin", "add_shadow")} == {
        "crop": "true", "crop_margin": "10", "add_shadow": "false"}
    headers = answered.value.headers
    box = [int(headers[f"x-foreground-{side}"]) for side in ("left", "top", "width", "height")]
    size = item.locator("img.after").evaluate(
        "img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])")
    assert box[:2] == [10, 10] and size == [box[2] + 20, box[3] + 20]
    assert size != [640, 480]  # the horse does not fill the photo: this is a crop
    shot(page, "09b-editor-crop")


def blob_state(page: Page, url: str) -> str:
    """Whether an object URL still points at its blob (loaded as an image: the CSP allows
    blob: images, not blob: fetches)."""
    state: str = page.evaluate("""url => new Promise(done => {
        const probe = new Image();
        probe.onload = () => done('alive');
        probe.onerror = () => done('released');
        probe.src = url;
    })""", url)
    return state


def check_transparent_background(png: bytes) -> None:
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (640, 480))
    alpha = np.asarray(image.getchannel("A"))
    background = ~ground_truth(PHOTO)
    assert np.median(alpha[background]) == 0
    assert np.median(alpha[~background]) == 255


def check_zip(path: Path, single: bytes) -> None:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None  # every CRC-32 matches
        assert archive.namelist() == [f"{PHOTO}-cutout.png"]
        assert archive.read(f"{PHOTO}-cutout.png") == single


def test_errors_show_next_to_their_image(page: Page, site: Served, tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_bytes(b"this is not an image at all")
    page.goto(f"{site.base}/")
    page.get_by_label("Solid background colour").check()
    page.get_by_label("Colour as text").fill("#12345")
    page.locator("#files").set_input_files([str(fake)])
    error = page.locator("#results .item").first.get_by_role("alert")
    expect(error).to_have_text(
        "File does not appear to be a valid image (invalid file signature)")
    page.get_by_label("Colour as text").fill("#12345")
    page.locator("#files").set_input_files(str(FIXTURES / "images" / "coffee.jpg"))
    second = page.locator("#results .item").nth(1).get_by_role("alert")
    expect(second).to_have_text("Invalid color format '#12345'. Use hex format: #RGB, #RGBA, "
                                "#RRGGBB, or #RRGGBBAA")
    expect(page.get_by_role("button", name="Download all (zip)")).to_be_disabled()
    shot(page, "10-editor-errors")


def test_phone_width_and_keyboard(browser: Browser, site: Served) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    for path, name in [("/", "11-phone-editor"), ("/signup", "12-phone-signup"),
                       ("/login", "13-phone-login")]:
        page.goto(f"{site.base}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways ({width}px)"
        shot(page, name)
    context.close()

    desk = browser.new_page()
    desk.goto(f"{site.base}/")
    unlabelled = desk.evaluate("""() => [...document.querySelectorAll('input, select, button')]
        .filter(el => el.type !== 'hidden' && !el.closest('template'))
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                      && !(el.tagName === 'BUTTON' && el.textContent.trim()))
        .map(el => el.id || el.outerHTML)""")
    assert unlabelled == []
    reached = []
    for _ in range(40):
        desk.keyboard.press("Tab")
        reached.append(desk.evaluate("document.activeElement.id"))
    controls = ["files", "opt-format", "opt-w", "opt-h", "opt-exact", "opt-mask", "opt-bg-on",
                "opt-angle", "opt-expand", "opt-feather", "opt-refine", "opt-decontaminate",
                "opt-tta", "opt-crop", "opt-shadow"]
    assert [c for c in controls if c not in reached] == []
    # the colour fields wake up from the keyboard too
    desk.focus("#opt-bg-on")
    desk.keyboard.press("Space")
    expect(desk.locator("#opt-bg")).to_be_enabled()
    desk.close()
