"""The removal options as command-line flags, derived from their schema
(``alphacut.domain.options``): names, help, and the form's parsers and messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from alphacut.domain.options import FormField, RemovalOptions, build_options, options_of
from alphacut.errors import AlphacutError, InvalidField, MultipleValidationErrors

F = TypeVar("F", bound=Callable[..., Any])


class OptionValue(click.ParamType):  # type: ignore[type-arg]
    """A flag's text, parsed as the form parses it (the same messages)."""

    def __init__(self, form: FormField, parse: Callable[[str], Any] | None = None) -> None:
        self.parse = parse or form.parse
        self.name = form.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value) if value.strip() else None
        except InvalidField as err:
            self.fail(err.message, param, ctx)


def removal_flags(func: F) -> F:
    """Add one flag per option that has one, in the schema's order."""
    for name, spec in reversed(list(options_of())):
        flag = spec.flag
        if flag is None:
            continue
        if flag.kind == "value":
            func = click.option(flag.decl, name, type=OptionValue(spec.form, flag.parse),
                                default=None, help=flag.help)(func)
        elif flag.kind == "flag":
            func = click.option(flag.decl, name, is_flag=True, default=None,
                                flag_value=not flag.inverted, help=flag.help)(func)
        else:
            func = click.option(flag.decl, name, default=None, help=flag.help)(func)
    return func


def chosen(values: Mapping[str, Any]) -> dict[str, Any]:
    """The options the user gave (None means not given)."""
    names = {name for name, _ in options_of()}
    return {name: value for name, value in values.items()
            if name in names and value is not None}


def options_from_flags(values: Mapping[str, Any]) -> RemovalOptions:
    """The options the flags give, checked as the form is (a usage error otherwise)."""
    try:
        return build_options(chosen(values))
    except AlphacutError as err:
        raise click.UsageError(describe(err)) from err


def describe(err: AlphacutError) -> str:
    if isinstance(err, MultipleValidationErrors):
        return "; ".join(d.message for d in err.details)
    return err.message
