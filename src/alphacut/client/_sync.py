"""``Client``: the blocking shell around the core in ``_base``."""

from __future__ import annotations

import dataclasses
import time
from types import TracebackType
from typing import Literal, overload

import httpx

from alphacut.client import _base
from alphacut.client._base import DEFAULT_TIMEOUT, USER_AGENT, ImageInput, Reply, RequestSpec
from alphacut.client._env import resolve_config
from alphacut.client._io import read_input, write_temp
from alphacut.client.errors import AlphacutClientError
from alphacut.client.models import (
    BillingCycles,
    MembershipUsage,
    ProgressCallback,
    ProgressEvent,
    RemovalResult,
)
from alphacut.client.retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy


class Client:
    """A connection to an alphacut (or RemBG-compatible) server.

    ``base_url`` and ``api_key`` default to ``ALPHACUT_BASE_URL`` / ``ALPHACUT_API_KEY``
    from the environment, then from a ``.env`` file in the working directory; the URL
    falls back to ``http://127.0.0.1:7000`` and no key means anonymous use. Use it as
    a context manager, or call :meth:`close`.
    """

    def __init__(
        self, base_url: str | None = None, api_key: str | None = None, *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: RetryPolicy | None = DEFAULT_RETRY,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        config = resolve_config(base_url, api_key)
        self.base_url = config.base_url
        self.api_key = config.api_key
        self.retries = retries or NO_RETRY
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers={"user-agent": USER_AGENT})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    def remove_background(
        self, input_image: ImageInput, *, format: str | None = None,
        return_base64: bool = False, return_mask: bool = False, w: int | None = None,
        h: int | None = None, exact_resize: bool = False, angle: float | None = None,
        expand: bool | None = None, bg_color: str | None = None,
        model: str | None = None, refine: bool | None = None,
        decontaminate: bool | None = None, tta: bool | None = None,
        feather: int | None = None, roi: str | None = None, crop: bool | None = None,
        crop_margin: str | None = None, scale: str | None = None,
        position: str | None = None, add_shadow: bool | None = None,
        shadow_opacity: int | None = None, shadow_softness: int | None = None,
        semitransparency: bool | None = None,
        on_upload_progress: ProgressCallback | None = None,
        on_download_progress: ProgressCallback | None = None,
    ) -> RemovalResult:
        """Remove the background of one image (see ``docs/client.md`` for every option).

        Raises an :class:`~alphacut.client.errors.ApiError` subclass when the server
        refuses, :class:`~alphacut.client.errors.NetworkError` when it cannot be reached.
        """
        params = _base.RemoveParams(
            format=format, return_base64=return_base64, return_mask=return_mask, w=w, h=h,
            exact_resize=exact_resize, angle=angle, expand=expand, bg_color=bg_color,
            model=model, refine=refine, decontaminate=decontaminate, tta=tta, feather=feather,
            roi=roi, crop=crop, crop_margin=crop_margin, scale=scale, position=position,
            add_shadow=add_shadow, shadow_opacity=shadow_opacity,
            shadow_softness=shadow_softness, semitransparency=semitransparency)
        request = _base.removal_request(read_input(input_image), params, self.api_key)
        reply = self._send(request, on_upload_progress, on_download_progress)
        result = _base.removal_result(reply, return_base64=return_base64)
        if return_base64:
            return result
        return dataclasses.replace(result, path=write_temp(result.content, result.media_type))

    @overload
    def membership_usage(
        self, year: int | None = None, month: int | None = None,
        period_start_unix: int | None = None, expand_billing_cycle: bool = False,
        list_billing_cycles: Literal[False] = False,
    ) -> MembershipUsage: ...
    @overload
    def membership_usage(
        self, year: int | None = None, month: int | None = None,
        period_start_unix: int | None = None, expand_billing_cycle: bool = False,
        *, list_billing_cycles: Literal[True],
    ) -> BillingCycles: ...
    def membership_usage(
        self, year: int | None = None, month: int | None = None,
        period_start_unix: int | None = None, expand_billing_cycle: bool = False,
        list_billing_cycles: bool = False,
    ) -> MembershipUsage | BillingCycles:
        """Plan, credits and usage (``GET /api/membership-usage``); with
        ``list_billing_cycles`` only the list of billing windows (other arguments ignored)."""
        request = _base.usage_request(
            self.api_key, year=year, month=month, period_start_unix=period_start_unix,
            expand_billing_cycle=expand_billing_cycle, list_billing_cycles=list_billing_cycles)
        reply = self._send(request, None, None)
        if list_billing_cycles:
            return _base.billing_cycles(reply)
        return _base.membership_usage(reply)

    def _send(
        self, request: RequestSpec, on_upload: ProgressCallback | None,
        on_download: ProgressCallback | None,
    ) -> Reply:
        attempt = 1
        while True:
            try:
                return _base.check(self._send_once(request, on_upload, on_download))
            except AlphacutClientError as err:
                delay = self.retries.delay_before_retry(err, attempt)
                if delay is None:
                    raise
            time.sleep(delay)
            attempt += 1

    def _send_once(
        self, request: RequestSpec, on_upload: ProgressCallback | None,
        on_download: ProgressCallback | None,
    ) -> Reply:
        # A fresh generator per attempt: a retried upload is sent again from the start.
        content = None if request.body is None else _base.upload_chunks(request.body, on_upload)
        try:
            with self._http.stream(request.method, request.path, params=request.params,
                                   headers=request.all_headers, content=content) as response:
                if not response.is_success:
                    return Reply(response.status_code, response.headers, response.read())
                return Reply(response.status_code, response.headers,
                             _download(response, on_download))
        except httpx.TransportError as exc:
            raise _base.network_error(exc, self.base_url) from exc


def _download(response: httpx.Response, on_progress: ProgressCallback | None) -> bytes:
    total = _base.content_length(response.headers)
    parts: list[bytes] = []
    for chunk in response.iter_bytes():
        parts.append(chunk)
        if on_progress is not None:
            on_progress(ProgressEvent.of(response.num_bytes_downloaded, total, "download"))
    return b"".join(parts)
