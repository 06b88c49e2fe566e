"""The interactive reference in Debian's headless Chromium: loads offline, "try it" works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import launch_chromium
from tests.conftest import FIXTURES

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_chromium()


def test_try_it_returns_an_image(browser: Browser, server: str) -> None:
    page: Page = browser.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(f"{server}/docs", wait_until="networkidle")
    operation = page.locator(".opblock-post").first
    operation.locator(".opblock-summary").click()
    operation.locator("input[type=file]").set_input_files(
        str(FIXTURES / "images" / "horse_on_grass.jpg"))
    with page.expect_response(lambda r: r.url.endswith("/rmbg")) as caught:
        operation.get_by_role("button", name="Execute").click()
    reply = caught.value
    assert reply.status == 200
    assert reply.headers["content-type"] == "image/webp"
    image = operation.locator(".response-col_description img")
    image.wait_for(timeout=30_000)
    assert image.evaluate("img => img.naturalWidth") == 640
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reference-try-it.png"), full_page=True)
    assert failed == []
    page.close()


def test_authorize_sends_the_api_key(browser: Browser, server: str) -> None:
    page = browser.new_page()
    page.goto(f"{server}/docs", wait_until="networkidle")
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input").first.fill("test-key-123")
    dialog.locator("button.modal-btn.authorize").first.click()
    dialog.locator("button.btn-done").first.click()
    operation = page.locator(".opblock-post").first
    operation.locator(".opblock-summary").click()
    operation.locator("input[type=file]").set_input_files(str(FIXTURES / "images" / "coffee.jpg"))
    with page.expect_request(lambda r: r.url.endswith("/rmbg")) as caught:
        operation.get_by_role("button", name="Execute").click()
    assert caught.value.headers.get("x-api-key") == "test-key-123"
    page.close()
