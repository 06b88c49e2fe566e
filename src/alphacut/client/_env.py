"""Where the base URL and the API key come from: arguments, then the environment, then
a ``.env`` file in the working directory.

The ``.env`` reader understands the common subset: ``KEY=VALUE`` lines, an optional
``export`` in front, blank lines and ``#`` comments, values in single quotes (taken
as they are) or double quotes (``\\n``, ``\\t``, ``\\"`` and ``\\\\`` unescaped), and a
``#`` comment after the value (after an unquoted one, when a space precedes it).
No variable expansion.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

API_KEY_VAR = "ALPHACUT_API_KEY"
BASE_URL_VAR = "ALPHACUT_BASE_URL"
DEFAULT_BASE_URL = "http://127.0.0.1:7000"


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    api_key: str | None


def resolve_config(
    base_url: str | None, api_key: str | None,
    environ: Mapping[str, str] | None = None, dotenv: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Explicit arguments win, then the environment, then ``.env``; empty values count
    as unset. The ``.env`` file is read only when something is still missing."""
    env = os.environ if environ is None else environ
    found_url = base_url or env.get(BASE_URL_VAR) or None
    found_key = api_key or env.get(API_KEY_VAR) or None
    if found_url is None or found_key is None:
        values = read_dotenv(Path(".env")) if dotenv is None else dotenv
        found_url = found_url or values.get(BASE_URL_VAR) or None
        found_key = found_key or values.get(API_KEY_VAR) or None
    return ClientConfig((found_url or DEFAULT_BASE_URL).rstrip("/"), found_key)


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of a ``.env`` file; an absent or unreadable file gives none."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return parse_dotenv(text)


def parse_dotenv(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            continue
        values[key] = _value(value.strip())
    return values


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}


def _value(value: str) -> str:
    if value[:1] == "'" and value.find("'", 1) > 0:
        return value[1:value.find("'", 1)]
    if value[:1] == '"':
        quoted = _double_quoted(value)
        if quoted is not None:
            return quoted
    comment = value.find(" #")
    return (value[:comment] if comment >= 0 else value).strip()


def _double_quoted(value: str) -> str | None:
    """The text up to the closing quote, escapes decoded; None when it never closes."""
    out: list[str] = []
    i = 1
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            following = value[i + 1]
            out.append(_ESCAPES.get(following, char + following))
            i += 2
            continue
        if char == '"':
            return "".join(out)
        out.append(char)
        i += 1
    return None
