"""The removal use case: validate the upload, run the engine off the loop, return bytes.

Order of checks (documented in docs/api.md): the ``image`` part is present, has
a file name, an allowed extension, is not empty and not over the size limit
(while streaming), has an image signature, has allowed dimensions; then the
form fields, all of them collected at once. Only then is any pixel decoded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from alphacut.domain.clock import Clock
from alphacut.domain.options import RemovalOptions, parse_options
from alphacut.domain.principal import Principal
from alphacut.domain.upload import Upload
from alphacut.engine.pipeline import Engine, Result
from alphacut.engine.runner import Runner
from alphacut.errors import NoFileSelected, NoImage
from alphacut.imaging.sniff import check_extension, probe
from alphacut.service.quota import QuotaService
from alphacut.storage.base import RateDecision


@dataclass(frozen=True)
class Charged:
    """One image's answer and what it cost: ``credits_left`` for users, else None."""

    result: Result
    credits_left: int | None


class RemovalService:
    def __init__(self, engine: Engine, runner: Runner) -> None:
        self.engine = engine
        self.runner = runner

    def validate(self, upload: Upload) -> RemovalOptions:
        if not upload.has_image:
            raise NoImage()
        if upload.filename == "":
            raise NoFileSelected()
        if upload.filename is not None:
            check_extension(upload.filename)
        content, fields = upload.content, upload.fields
        probe(content, self.engine.limits)
        options = parse_options(fields)
        self.engine.spec(options.model)
        return options

    async def remove(self, content: bytes, options: RemovalOptions) -> Result:
        """Run the engine off the event loop (uncharged; ``ChargedRemoval`` charges)."""
        return await self.runner.run(lambda: self.engine.remove(content, options))


class ChargedRemoval:
    """The image use case of the API and the web app: validate the upload, take the
    allowance or one credit, cut the image out; a failure gives the credit back.

    Callers hold a runner slot around it (admission) and have already checked who
    is asking and the short-window rate (both answer before the upload is read).
    Store calls run off the event loop.
    """

    def __init__(self, removal: RemovalService, quota: QuotaService, clock: Clock) -> None:
        self.removal = removal
        self.quota = quota
        self.clock = clock

    async def __call__(self, principal: Principal, rate: RateDecision,
                       upload: Upload) -> Charged:
        options = self.removal.validate(upload)
        admission = await asyncio.to_thread(self.quota.take, principal, rate, self.clock.now())
        try:
            result = await self.removal.remove(upload.content, options)
        except BaseException:
            await asyncio.to_thread(self.quota.give_back, admission)
            raise
        left = await asyncio.to_thread(self.quota.credits_left, admission, self.clock.now())
        return Charged(result, left)
