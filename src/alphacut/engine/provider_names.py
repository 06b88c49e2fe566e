"""The names ALPHACUT_PROVIDERS and ALPHACUT_REQUIRE_PROVIDER accept (no runtime imported:
the settings read these)."""

from __future__ import annotations

PROVIDERS = ("cuda", "tensorrt", "openvino", "coreml", "directml", "rocm", "cpu")


def parse_providers(text: str) -> tuple[str, ...]:
    """``cuda, openvino,cpu`` -> ("cuda", "openvino", "cpu"); ValueError naming what is
    wrong (an unknown name, a repeat, an empty list)."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError(f"ALPHACUT_PROVIDERS is empty; give one or more of "
                         f"{', '.join(PROVIDERS)} in the order to try them")
    for name in names:
        if name not in PROVIDERS:
            raise ValueError(f"ALPHACUT_PROVIDERS: unknown provider {name[:40]!r}; known: "
                             f"{', '.join(PROVIDERS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"ALPHACUT_PROVIDERS names a provider twice: {','.join(names)}")
    return names
