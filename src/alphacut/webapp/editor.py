"""The editor's option controls, derived from the removal options' schema
(``alphacut.domain.options``): each option with a ``Control`` appears, grouped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alphacut.domain.options import Control, options_of


@dataclass(frozen=True)
class EditorControl:
    name: str
    """The form field the editor sends (the RemBG form's name)."""
    control: Control
    checked: bool
    """A checkbox's starting state: the option's default, or the server's setting."""


@dataclass(frozen=True)
class Group:
    legend: str | None
    controls: list[EditorControl]


def editor_groups(server_defaults: Mapping[str, bool]) -> list[Group]:
    """The controls by group, in the schema's order of first appearance. Switches whose
    default is "the server's setting" start as ``server_defaults`` says."""
    groups: dict[str | None, Group] = {}
    for name, spec in options_of():
        if spec.control is None:
            continue
        checked = bool(server_defaults.get(name, _default_true(spec.form.schema)))
        group = groups.setdefault(spec.control.group, Group(spec.control.group, []))
        group.controls.append(EditorControl(spec.form.name, spec.control, checked))
    return list(groups.values())


def _default_true(schema: Mapping[str, object]) -> bool:
    return schema.get("default") is True
