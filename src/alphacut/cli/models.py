"""``alphacut models``: list the registry, fetch a model, show where its file lives."""

from __future__ import annotations

import json

import click

from alphacut.engine.specs import MODELS, ModelSpec
from alphacut.engine.store import ModelStore
from alphacut.errors import ModelUnavailable, UnknownModel
from alphacut.settings import Settings

_COLUMNS = ("name", "size_mb", "licence", "commercial", "present", "input")


def _store(settings: Settings) -> ModelStore:
    return ModelStore(
        settings.models_dir,
        pip_index_url=settings.pip_index_url,
        pip_find_links=settings.pip_find_links,
        timeout_s=settings.download_timeout_s,
    )


def _spec(store: ModelStore, name: str) -> ModelSpec:
    try:
        return store.lookup(name)
    except UnknownModel as exc:
        raise click.BadParameter(exc.message, param_hint="NAME") from exc


def _row(spec: ModelSpec, store: ModelStore, default: str) -> dict[str, object]:
    width, height = spec.input_size
    return {
        "name": spec.name,
        "size_mb": spec.size_mb,
        "licence": spec.licence,
        "commercial": spec.commercial_use,
        "agpl": spec.agpl,
        "present": store.is_present(spec),
        "input": f"{width}x{height}",
        "default": spec.name == default,
        "path": str(store.path_for(spec)),
        "sources": [*spec.urls, *(source.describe() for source in spec.pip_sources),
                    *(source.describe() for source in spec.npm_sources)],
    }


def _table(rows: list[dict[str, object]]) -> str:
    def cell(row: dict[str, object], column: str) -> str:
        value = row[column]
        if isinstance(value, bool):
            return "yes" if value else "no"
        if column == "name" and row["default"]:
            return f"{value} (default)"
        return str(value)

    cells = [[column.replace("_", " ") for column in _COLUMNS]]
    cells += [[cell(row, column) for column in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


@click.group()
def models() -> None:
    """List, download and locate model files (cache: ALPHACUT_MODELS_DIR)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def list_models(as_json: bool) -> None:
    """Show every registered model and whether its verified file is present."""
    settings = Settings()
    store = _store(settings)
    rows = [_row(spec, store, settings.model) for spec in MODELS.values()]
    click.echo(json.dumps(rows, indent=2) if as_json else _table(rows))


@models.command("pull")
@click.argument("name")
def pull(name: str) -> None:
    """Download and verify a model's file, then print its path."""
    settings = Settings()
    store = _store(settings)
    spec = _spec(store, name)
    if spec.agpl and not settings.allow_agpl_models:
        # Fetching is the operator's step: AGPL code is not downloaded without their say.
        raise click.ClickException(
            f"Model '{spec.name}' is licensed under {spec.licence}: a network service that "
            "uses it must offer its users the source (docs/models.md). To pull it, set "
            "ALPHACUT_ALLOW_AGPL_MODELS=true.")
    try:
        path = store.ensure(spec)
    except ModelUnavailable as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(str(path))


@models.command("path")
@click.argument("name")
def path(name: str) -> None:
    """Print where a model's file is (exit 0) or would be once pulled (exit 1)."""
    store = _store(Settings())
    spec = _spec(store, name)
    click.echo(str(store.path_for(spec)))
    if not store.is_present(spec):
        raise click.exceptions.Exit(1)
