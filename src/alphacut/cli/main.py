"""The ``alphacut`` command: one group, one module per sub-command."""

from __future__ import annotations

import click

from alphacut.cli.client import client
from alphacut.cli.credits import credits
from alphacut.cli.doctor import doctor
from alphacut.cli.eval import eval_command
from alphacut.cli.keys import keys
from alphacut.cli.models import models
from alphacut.cli.remove import remove
from alphacut.cli.serve import serve
from alphacut.cli.users import users


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="alphacut")
def cli() -> None:
    """alphacut: self-hosted background removal that speaks the RemBG API."""


cli.add_command(remove)
cli.add_command(models)
cli.add_command(serve)
cli.add_command(users)
cli.add_command(keys)
cli.add_command(credits)
cli.add_command(client)
cli.add_command(eval_command)
cli.add_command(doctor)


def main() -> None:
    cli()
