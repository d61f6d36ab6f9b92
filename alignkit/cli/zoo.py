"""`alignkit zoo`: list the named encoders, whether they are installed, and how to get them."""

from __future__ import annotations

import json

import click

from alignkit.cli.common import format_option


@click.command("zoo")
@click.option("--modality", type=click.Choice(["image", "text"]), default=None, help="Only this modality (default: both).")
@click.option("--kind", type=click.Choice(["offline", "control", "hub"]), default=None, help="Only this kind (default: all).")
@format_option(("table", "json"), "table: one line per encoder; json: every field, for scripts.")
def zoo(modality: str | None, kind: str | None, fmt: str) -> None:
    """List short encoder names (offline models and controls). Any hub model also works as
    hf:ID, timm:NAME or st:ID."""
    from alignkit.encoders.registry import zoo_entries

    rows = [
        {
            "name": e.name,
            "modality": e.modality,
            "dim": e.dim,
            "params": e.params,
            "kind": e.kind,
            "installed": e.installed(),
            "description": e.description,
            "install_hint": e.install_hint,
        }
        for e in zoo_entries(modality, kind)
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(_table(rows))
    missing = [r for r in rows if not r["installed"]]
    for r in missing:
        click.echo(f"\n{r['name']} is not installed. {r['install_hint']}")


def _table(rows: list[dict]) -> str:
    cols = ["name", "modality", "dim", "params", "kind", "installed", "description"]
    cells = [[_cell(c, r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def _cell(col: str, value: object) -> str:
    if col == "params":
        return _human(int(value))  # type: ignore[arg-type]
    if col == "installed":
        return "yes" if value else "no"
    return str(value)


def _human(n: int) -> str:
    if n == 0:
        return "0"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)
