"""Prometheus metrics, one registry per app (so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from alphacut.engine.runner import Runner
from alphacut.engine.runtimes import Placement

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "alphacut_requests_total", "HTTP requests by route and status.",
            ["route", "status"], registry=self.registry)
        self.latency = Histogram(
            "alphacut_request_seconds", "Request latency by route.", ["route"],
            buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.stage = Histogram(
            "alphacut_stage_seconds", "Time per pipeline stage (decode, inference, encode...).",
            ["stage"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge(
            "alphacut_queue_depth", "Admitted image requests not yet running.",
            registry=self.registry)
        self.in_flight = Gauge(
            "alphacut_in_flight", "Image requests being processed.", registry=self.registry)
        self.pixels = Gauge(
            "alphacut_pixels_in_flight", "Pixels (input + result) of the images being "
            "processed: what ALPHACUT_MAX_PIXELS_IN_FLIGHT bounds.", registry=self.registry)
        self.pool_threads = Gauge(
            "alphacut_pool_threads", "Threads of each pool (work: images at once; helpers, "
            "deflate: the engine's side work; store: blocking calls from the event loop; "
            "inference: ONNX Runtime threads in one inference).", ["pool"],
            registry=self.registry)

        self.models = Gauge(
            "alphacut_model_loaded", "1 for each loaded model, labelled with the execution "
            "provider and precision it really runs on (docs/runtimes.md).",
            ["model", "provider", "precision"], registry=self.registry)

    def observe_stages(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.stage.labels(stage).observe(ms / 1000)

    def scrape(self, runner: Runner, pool_sizes: dict[str, int],
               placements: dict[str, Placement]) -> bytes:
        """The text exposition, with the gauges read now."""
        self.models.clear()  # an unloaded model leaves the exposition
        for model, where in placements.items():
            self.models.labels(model, where.provider, where.precision).set(1)
        self.queue_depth.set(runner.waiting)
        self.in_flight.set(runner.running)
        self.pixels.set(runner.pixels)
        for pool, size in pool_sizes.items():
            self.pool_threads.labels(pool).set(size)
        return generate_latest(self.registry)
