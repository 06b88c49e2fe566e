"""``AsyncClient``: the asyncio shell around the core in ``_base``; mirrors ``Client``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Literal, overload

import httpx

from alphacut.client import _base
from alphacut.client._base import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    ImageInput,
    MultipartBody,
    Reply,
    RequestSpec,
)
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


class AsyncClient:
    """The asyncio twin of :class:`~alphacut.client.Client`: same arguments, same
    results, awaitable methods; ``async with AsyncClient() as client: ...``.

    Reading the input and writing the temp file run in a worker thread, so the
    event loop never blocks on the disk.
    """

    def __init__(
        self, base_url: str | None = None, api_key: str | None = None, *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: RetryPolicy | None = DEFAULT_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        config = resolve_config(base_url, api_key)
        self.base_url = config.base_url
        self.api_key = config.api_key
        self.retries = retries or NO_RETRY
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout,
                                       transport=transport, headers={"user-agent": USER_AGENT})

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.base_url!r})"

    async def remove_background(
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
        """Remove the background of one image; see :meth:`Client.remove_background`."""
        params = _base.RemoveParams(
            format=format, return_base64=return_base64, return_mask=return_mask, w=w, h=h,
            exact_resize=exact_resize, angle=angle, expand=expand, bg_color=bg_color,
            model=model, refine=refine, decontaminate=decontaminate, tta=tta, feather=feather,
            roi=roi, crop=crop, crop_margin=crop_margin, scale=scale, position=position,
            add_shadow=add_shadow, shadow_opacity=shadow_opacity,
            shadow_softness=shadow_softness, semitransparency=semitransparency)
        upload = await asyncio.to_thread(read_input, input_image)
        request = _base.removal_request(upload, params, self.api_key)
        reply = await self._send(request, on_upload_progress, on_download_progress)
        result = _base.removal_result(reply, return_base64=return_base64)
        if return_base64:
            return result
        path = await asyncio.to_thread(write_temp, result.content, result.media_type)
        return dataclasses.replace(result, path=path)

    @overload
    async def membership_usage(
        self, year: int | None = None, month: int | None = None,
        period_start_unix: int | None = None, expand_billing_cycle: bool = False,
        list_billing_cycles: Literal[False] = False,
    ) -> MembershipUsage: ...
    @overload
    async def membership_usage(
        self, year: int | None = None, month: int | None = None,
        period_start_unix: int | None = None, expand_billing_cycle: bool = False,
        *, list_billing_cycles: Literal[True],
    ) -> BillingCycles: ...
    async def membership_usage(
        self, year: int | None = None, month: int | None = None,
        period_start_unix: int | None = None, expand_billing_cycle: bool = False,
        list_billing_cycles: bool = False,
    ) -> MembershipUsage | BillingCycles:
        """Plan, credits and usage; see :meth:`Client.membership_usage`."""
        request = _base.usage_request(
            self.api_key, year=year, month=month, period_start_unix=period_start_unix,
            expand_billing_cycle=expand_billing_cycle, list_billing_cycles=list_billing_cycles)
        reply = await self._send(request, None, None)
        if list_billing_cycles:
            return _base.billing_cycles(reply)
        return _base.membership_usage(reply)

    async def _send(
        self, request: RequestSpec, on_upload: ProgressCallback | None,
        on_download: ProgressCallback | None,
    ) -> Reply:
        attempt = 1
        while True:
            try:
                return _base.check(await self._send_once(request, on_upload, on_download))
            except AlphacutClientError as err:
                delay = self.retries.delay_before_retry(err, attempt)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            attempt += 1

    async def _send_once(
        self, request: RequestSpec, on_upload: ProgressCallback | None,
        on_download: ProgressCallback | None,
    ) -> Reply:
        content = None if request.body is None else _upload(request.body, on_upload)
        try:
            async with self._http.stream(
                request.method, request.path, params=request.params,
                headers=request.all_headers, content=content,
            ) as response:
                if not response.is_success:
                    return Reply(response.status_code, response.headers, await response.aread())
                return Reply(response.status_code, response.headers,
                             await _download(response, on_download))
        except httpx.TransportError as exc:
            raise _base.network_error(exc, self.base_url) from exc


async def _upload(
    body: MultipartBody, on_progress: ProgressCallback | None
) -> AsyncIterator[bytes]:
    for chunk in _base.upload_chunks(body, on_progress):
        yield chunk


async def _download(response: httpx.Response, on_progress: ProgressCallback | None) -> bytes:
    total = _base.content_length(response.headers)
    parts: list[bytes] = []
    async for chunk in response.aiter_bytes():
        parts.append(chunk)
        if on_progress is not None:
            on_progress(ProgressEvent.of(response.num_bytes_downloaded, total, "download"))
    return b"".join(parts)
