"""Point the PyPI ``removebg`` client (0.4) at a local server, in this process only.

The client posts to ``removebg.removebg.API_ENDPOINT``, a module global it reads on every
call (``requests.post(API_ENDPOINT, ...)``), so rebinding it is the whole redirect; nothing
installed is touched. The client's constructor also runs ``logging.basicConfig(filename=...)``,
which opens a file handler on the root logger whenever the root has none; any handler it
added is closed on the way out too, with the endpoint put back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import removebg.removebg

REMOTE = "https://api.remove.bg"


@contextmanager
def redirected(base: str) -> Iterator[None]:
    """``with redirected("http://127.0.0.1:PORT"):`` the client talks to that server."""
    module = removebg.removebg
    original: str = module.API_ENDPOINT
    if not original.startswith(f"{REMOTE}/"):
        raise RuntimeError(f"removebg posts to {original!r}, not {REMOTE}: another version?")
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    module.API_ENDPOINT = base.rstrip("/") + original.removeprefix(REMOTE)
    try:
        yield
    finally:
        module.API_ENDPOINT = original
        for handler in [h for h in root.handlers if h not in handlers_before]:
            root.removeHandler(handler)
            handler.close()
