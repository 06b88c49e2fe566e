from __future__ import annotations

from pathlib import Path

from alphacut.config_docs import render


def test_configuration_doc_is_current() -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    assert doc.read_text() == render(), "run: python -m alphacut.config_docs > " \
                                        "docs/configuration.md"
