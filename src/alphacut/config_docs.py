"""docs/configuration.md, generated from the Settings fields (a test keeps it current)."""

from __future__ import annotations

from pydantic_core import PydanticUndefined

from alphacut.settings import Settings

HEADER = """# Configuration

Every setting is an environment variable with the `ALPHACUT_` prefix (a flag of
`alphacut serve` sets the same variable). Generated from `src/alphacut/settings.py`
by `python -m alphacut.config_docs > docs/configuration.md`; do not edit by hand.

| variable | default | meaning |
|---|---|---|
"""


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    if field.default is not PydanticUndefined:
        return f"`{field.default}`" if field.default is not None else "unset"
    return "computed (see meaning)"


def render() -> str:
    rows = [
        f"| `ALPHACUT_{name.upper()}` | {_default(name)} | {field.description or ''} |"
        for name, field in Settings.model_fields.items()
    ]
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render(), end="")
