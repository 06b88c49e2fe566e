"""The ``alphacut`` command: one group, one module per sub-command."""

from __future__ import annotations

import click

from alphacut.cli.models import models
from alphacut.cli.remove import remove
from alphacut.cli.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="alphacut")
def cli() -> None:
    """alphacut: self-hosted background removal that speaks the RemBG API."""


cli.add_command(remove)
cli.add_command(models)
cli.add_command(serve)


def main() -> None:
    cli()
