"""The removal use case: validate the upload, run the engine off the loop, return bytes.

Order of checks (documented in docs/api.md): the ``image`` part is present, has
a file name, an allowed extension, is not empty and not over the size limit
(while streaming), has an image signature, has allowed dimensions; then the
form fields, all of them collected at once. Only then is any pixel decoded.
"""

from __future__ import annotations

from alphacut.domain.options import RemovalOptions, parse_options
from alphacut.domain.upload import Upload
from alphacut.engine.pipeline import Engine, Result
from alphacut.engine.runner import Runner
from alphacut.errors import NoFileSelected, NoImage
from alphacut.imaging.sniff import check_extension, probe


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
        """Run the engine off the event loop (credits are taken and refunded by the caller,
        around this call: see web/routes/rmbg.py)."""
        return await self.runner.run(lambda: self.engine.remove(content, options))
