"""The removal use case: one image, from who is asking to what it cost.

The order, owned here for every way in (``POST /rmbg``, the web editor, and the
remove.bg-compatible API):

1. who is asking (401/403/400), then the short-window rate limit (429): both
   answer before the upload is read (a refused body is drained briefly, only while
   the upload gate has room);
2. an upload place (``service/uploads.py``: 503 when the server reads too many,
   429 when this caller does), then the upload is read (408 when it arrives too
   slowly) and validated (400): the ``image`` part is present, has
   a file name, an allowed extension, is not empty and not over the size limit
   (while streaming), has an image signature and allowed dimensions; then the
   form fields, all of them collected at once. No pixel is decoded yet;
3. admission for CPU work (503 when every slot and queue place is taken): only
   now, so a slow upload never holds a CPU slot;
4. the anonymous allowance is used, or the user's credit checked (429; nothing held);
5. the image is cut out, off the event loop;
6. settle: the credit is taken, atomically, only now that the image is made and just
   before its answer starts (429 if a concurrent request took the last one: the image
   is dropped). A crash or a failure before this point charges nothing.

Adapters hand in the credentials and an upload reader, and render the delivery.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from alphacut.domain.clock import Clock
from alphacut.domain.network import caller_network
from alphacut.domain.options import RemovalOptions, parse_options
from alphacut.domain.principal import Principal
from alphacut.domain.upload import Upload
from alphacut.engine.pipeline import Engine, Result
from alphacut.engine.runner import Runner
from alphacut.errors import (
    AlphacutError,
    InvalidField,
    NoFileSelected,
    NoImage,
    Overloaded,
    RateLimited,
)
from alphacut.imaging.sniff import (
    RMBG_KINDS,
    Limits,
    check_extension,
    check_output,
    probe,
    upright_size,
)
from alphacut.imaging.transform import output_size
from alphacut.service.auth import Credentials, PrincipalResolver
from alphacut.service.offload import Offload
from alphacut.service.quota import QuotaService
from alphacut.service.uploads import UploadGate, caller_of
from alphacut.storage.base import RateDecision


class UploadReader(Protocol):
    async def read(self) -> Upload:
        """The whole upload, or the contract's error (no image, too large, too slow)."""
        ...

    async def discard(self) -> None:
        """Drop a body that will not be used (bounded in bytes and time)."""
        ...


@dataclass(frozen=True)
class Delivery:
    """One image's answer and what it cost: ``credits_left`` for users, else None."""

    result: Result
    rate: RateDecision
    principal: Principal
    credits_left: int | None

    @property
    def credits_charged(self) -> int:
        return 0 if self.credits_left is None else 1


def form_request(upload: Upload, limits: Limits) -> tuple[bytes, RemovalOptions]:
    """The RemBG form's image part and fields, in the contract's order of checks."""
    if not upload.has_image:
        raise NoImage()
    if upload.filename == "":
        raise NoFileSelected()
    if upload.filename is not None:
        check_extension(upload.filename)
    _, header = probe(upload.content, dataclasses.replace(limits, kinds=RMBG_KINDS))
    if upload.repeated:  # which of two values was meant? Not ours to guess
        name = upload.repeated[0]
        raise InvalidField(name, f"'{name}' was sent more than once; send each field once.")
    options = parse_options(upload.fields)
    check_output(*output_size(*upright_size(header), options), limits)
    return upload.content, options


def remove_local(engine: Engine, content: bytes, options: RemovalOptions) -> Result:
    """One image on this machine, no account (``alphacut remove``): the same checks."""
    probe(content, engine.limits)
    engine.spec(options.model)
    return engine.remove(content, options)


Surface = Callable[[Upload, Limits], tuple[bytes, RemovalOptions]]
"""How one API reads an image and its options from an upload, checking the image's
bytes and header against the limits before its fields (the RemBG form's is
:func:`form_request`)."""

Who = Callable[[Credentials, int], Principal]
"""Who may ask: ``PrincipalResolver.caller`` (a key, a token, a session, or anonymous) or
``PrincipalResolver.key_holder`` (an API key only: the remove.bg API)."""

Accept = Callable[[Result], None]
"""A last check of the made image, before its credit is taken (remove.bg refuses an image
without a subject); raising charges nothing."""


class RemovalUseCase:
    def __init__(self, principals: PrincipalResolver, quota: QuotaService, engine: Engine,
                 runner: Runner, offload: Offload, clock: Clock,
                 uploads: UploadGate | None = None) -> None:
        self.uploads = uploads or UploadGate(64, 8)
        self.principals = principals
        self.quota = quota
        self.engine = engine
        self.runner = runner
        self.offload = offload
        self.clock = clock

    async def __call__(self, credentials: Credentials, upload: UploadReader,
                       surface: Surface = form_request, who: Who | None = None,
                       accept: Accept | None = None) -> Delivery:
        principal, rate = await self._admit_caller(credentials, upload,
                                                   who or self.principals.caller)
        async with self.uploads.place(caller_of(principal)):
            received = await upload.read()
        # Off the loop: a header can take a while to parse (many chunks or markers).
        content, options, pixels = await self.offload(self._validated, received, surface)
        async with self.runner.slot():
            admission = await self.offload(self.quota.admit, principal, rate, self.clock.now())
            result = await self.runner.run(lambda: self.engine.remove(content, options),
                                           pixels)
        if accept is not None:
            accept(result)
        admission = await self.offload(self.quota.charge, principal, admission,
                                       self.clock.now())
        left = await self.offload(self.quota.credits_left, admission, self.clock.now())
        return Delivery(result, rate, principal, left)

    async def _admit_caller(self, credentials: Credentials, upload: UploadReader,
                            who: Who) -> tuple[Principal, RateDecision]:
        """Who, and how fast: refused before the upload is read (and then dropped, so a
        client still sending sees our answer, not a reset connection)."""
        try:
            principal = await self.offload(who, credentials, int(self.clock.now()))
            rate = await self.offload(self.quota.check_rate, principal, self.clock.now())
        except AlphacutError:
            address = caller_network(self.principals.client_address(credentials))
            await self._drop(f"addr:{address}", upload)
            raise
        return principal, rate

    async def _drop(self, caller: str, upload: UploadReader) -> None:
        """Read and drop a refused body (bounded in time) if an upload place is free; else
        answer at once (the client may then see the connection close)."""
        try:
            async with self.uploads.place(caller):
                await upload.discard()
        except (Overloaded, RateLimited):
            pass

    def _validated(self, upload: Upload,
                   surface: Surface) -> tuple[bytes, RemovalOptions, int]:
        """The image and options, checked; and the work's weight in pixels (input and
        result), which admission weighs."""
        content, options = surface(upload, self.engine.limits)
        self.engine.servable(options.model)  # before any allowance or slot is used
        _, header = probe(content, self.engine.limits)
        width, height = upright_size(header)
        if options.roi is not None:
            options.roi.pixels(width, height)  # inside the image, and not empty
        out_width, out_height = output_size(width, height, options)
        pixels = width * height + out_width * out_height
        if options.crop:
            # The crop's canvas is known only once the subject is: weigh its largest
            # (margins of at most 500 px or 50 % of the subject a side).
            pixels += max(width + 1000, 2 * width) * max(height + 1000, 2 * height)
        if options.bg_image is not None:
            _, background = probe(options.bg_image, self.engine.limits)
            pixels += background.width * background.height
        return content, options, pixels
