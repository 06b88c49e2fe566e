"""The public surface is pinned: changing it is a deliberate act."""

from __future__ import annotations

import alphacut


def test_exported_members() -> None:
    assert sorted(alphacut.__all__) == [
        "AlphacutError", "Engine", "OutputFormat", "RemovalOptions", "Result", "Settings",
        "parse_options", "remove_background",
    ]
    for name in alphacut.__all__:
        assert getattr(alphacut, name).__module__.startswith("alphacut")
