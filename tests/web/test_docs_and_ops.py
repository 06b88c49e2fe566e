"""The OpenAPI document, the offline reference pages, health and metrics."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
from openapi_spec_validator import validate

from alphacut.bootstrap import pool_sizes
from alphacut.http.errors import STORE_UNAVAILABLE
from alphacut.settings import Settings
from tests.conftest import fixture_bytes
from tests.storage.support import start_redis
from tests.web.conftest import Served

Serve = Callable[..., AbstractContextManager[Served]]
SECRET = "readiness-test-secret-0123456789abcdef"


def test_openapi_is_a_valid_3_1_document(client: httpx.Client) -> None:
    document = client.get("/api/openapi").json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    operation = document["paths"]["/rmbg"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["properties"]) >= {"image", "format", "w", "h", "exact_resize", "mask",
                                       "bg_color", "angle", "expand", "return_base64"}
    assert form["required"] == ["image"]
    assert form["properties"]["format"]["default"] == "webp"
    assert form["properties"]["expand"]["default"] is True
    assert {"200", "400", "401", "403", "429", "503"} <= set(operation["responses"])
    examples = operation["responses"]["400"]["content"]["application/json"]["examples"]
    assert examples["multiple"]["value"]["error"] == "Multiple validation errors"
    assert document["components"]["securitySchemes"]["ApiKey"]["name"] == "x-api-key"


def test_reference_pages_use_only_local_assets(client: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "cdn." not in html and "https://" not in html.split("<body>")[0]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        reply = client.get(f"/docs/assets/{asset}")
        assert reply.status_code == 200 and len(reply.content) > 10_000


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "model": "u2netp",
                                            "store": "ok", "providers": {"u2netp": "cpu"},
                                            "precision": {"u2netp": "fp32"}}


def test_a_redis_outage_fails_requests_not_readiness(served: Serve, tmp_path: Path) -> None:
    """A store outage is every server's at once: readiness stays up (the Service keeps its
    endpoints) and reports it; each request that needs the store answers 503."""
    redis = start_redis(tmp_path / "redis")
    try:
        with served(store_url=redis.url, secret_key=SECRET) as s:
            user = s.accounts.create_user("ready@example.com", "Premium-20000", 5, True)
            key = s.accounts.create_key(user.id).key
            redis.stop()
            ready = httpx.get(f"{s.base}/readyz", timeout=30)
            reply = httpx.post(f"{s.base}/rmbg", headers={"x-api-key": key}, timeout=30,
                               files={"image": ("c.jpg", fixture_bytes("coffee"))})
    finally:
        redis.stop()
    assert (ready.status_code, ready.json()) == (
        200, {"status": "ready", "model": "u2netp", "store": "unavailable",
              "providers": {"u2netp": "cpu"}, "precision": {"u2netp": "fp32"}})
    assert reply.status_code == 503
    assert reply.json()["error"] == STORE_UNAVAILABLE


def test_metrics_count_requests_and_stages(client: httpx.Client) -> None:
    client.post("/rmbg", files={"image": ("c.jpg", fixture_bytes("coffee"))})
    client.post("/rmbg", files={"image": ("c.exe", b"MZ")})
    text = client.get("/metrics").text
    assert 'alphacut_requests_total{route="/rmbg",status="200"}' in text
    assert 'alphacut_requests_total{route="/rmbg",status="400"}' in text
    assert 'alphacut_stage_seconds_count{stage="inference"}' in text
    assert "alphacut_queue_depth" in text
    assert "alphacut_pixels_in_flight 0.0" in text  # nothing running between requests


def test_unknown_route_answers_in_the_error_shape(client: httpx.Client) -> None:
    reply = client.get("/nope")
    assert reply.status_code == 404
    assert reply.json() == {"error": "Not Found", "status": 404}


def test_metrics_report_every_pool_that_a_request_can_touch(
    client: httpx.Client, settings: Settings
) -> None:
    """The sum of these gauges bounds the process's threads (docs/operations.md)."""
    text = client.get("/metrics").text
    gauges = {line.split('"')[1]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line.startswith("alphacut_pool_threads{")}
    assert set(gauges) == {"work", "helpers", "deflate", "store", "inference"}
    assert all(size >= 1 for size in gauges.values())
    assert gauges == {name: float(size) for name, size in pool_sizes(settings).items()}
    assert gauges["work"] == gauges["helpers"] == settings.max_concurrency
