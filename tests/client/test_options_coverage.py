"""The SDK is independent of the server's code, so nothing makes it follow the removal
options' schema (``alphacut.domain.options``) but these tests: a new option that the
client cannot send fails here."""

from __future__ import annotations

import dataclasses

from alphacut.cli.client import _sdk_params
from alphacut.client._base import RemoveParams
from alphacut.domain.layout import parse_margin, parse_position, parse_roi
from alphacut.domain.options import OutputFormat, RemovalOptions, options_of, parse_options

# Every option with a form field set away from its default (the mask rule forbids
# bg_color with mask); the layout values are ones whose text form parses back equal.
EVERY_OPTION = RemovalOptions(
    format=OutputFormat.PNG, width=120, height=80, angle=12.5, bg_color=(1, 2, 3, 255),
    exact_resize=True, mask=False, expand=False, model="u2netp", refine=False,
    decontaminate=False, tta=True, feather=3, roi=parse_roi("1% 2% 90% 95%"), crop=True,
    crop_margin=parse_margin("10px 5%"), scale=0.8, position=parse_position("25% 75%"),
    shadow=True, shadow_opacity=70, shadow_softness=12, semitransparency=False,
)


def test_every_option_is_set_away_from_its_default() -> None:
    unset = [spec.name for spec in dataclasses.fields(RemovalOptions)
             if "option" in spec.metadata and getattr(EVERY_OPTION, spec.name) == spec.default]
    assert unset == ["mask"]  # set in the second half of the round-trip test


def test_the_sdk_can_send_every_form_field_of_the_schema() -> None:
    params = RemoveParams(format="png", return_mask=True, w=1, h=1, exact_resize=True,
                          angle=1.0, expand=False, bg_color="#fff", model="m", refine=True,
                          decontaminate=True, tta=True, feather=2, roi="0 0 10 10", crop=True,
                          crop_margin="5px", scale="50%", position="center", add_shadow=True,
                          shadow_opacity=40, shadow_softness=3, semitransparency=False)
    sent = {name for name, _ in params.form_fields()}
    assert sent == {spec.form.name for _, spec in options_of()} | {"return_base64"}


def test_every_option_survives_cli_to_sdk_to_form_parser() -> None:
    given = {name for name, _ in options_of()} - {"mask"}
    params = _sdk_params(EVERY_OPTION, given)
    form = dict(RemoveParams(**params).form_fields())
    assert parse_options(form) == EVERY_OPTION
    masked = dataclasses.replace(EVERY_OPTION, mask=True, bg_color=None)
    form = dict(RemoveParams(**_sdk_params(masked, given | {"mask"})).form_fields())
    assert parse_options(form) == masked
