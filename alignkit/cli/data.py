"""`alignkit data`: list and fetch the built-in sets, and preview any --data source or task."""

from __future__ import annotations

import json
import sys

import click

from alignkit.cli.common import format_option, verbosity_options
from alignkit.errors import AlignkitError

SPEC_HELP = """\b
Data specs (--data everywhere):
  wds:/data/shards-{000..009}.tar
  csv:/data/pairs.csv?image=path&caption=text   (tsv:, parquet: alike)
  folder:/data/images?captions=captions.jsonl
  hf:/data/saved_dataset?image=image&text=caption&split=train
  builtin:emoji?split=train                      (splits: train, probe, unseen-style, unseen-concepts)
  builtin:emoji?split=train&style=google,apple   (training styles: see `alignkit data list`)
  builtin:clipart?split=train                    (without drawings naming a held-out emoji concept)
\b
Task specs: builtin:fashion-mnist?n=1000, folder-task:DIR, task:FILE.json, retrieval:SOURCE
\b
What ?n= counts (one meaning per spec):
  builtin:emoji, emoji-unseen-*, emoji-category-*   concepts (one drawing per style each)
  builtin:emoji-animals-*   not accepted (every animal concept)
  every other source (builtin:clipart, cb:, ...)   pairs
  every other task (builtin:fashion-mnist, ...)   items (images to classify)
"""


@click.group(epilog=SPEC_HELP)
def data() -> None:
    """Built-in offline sets and image-caption sources."""


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n else "-"


@data.command("list")
@format_option(("table", "json"), "json: one JSON line per set.", json_alias=True)
def list_cmd(fmt: str) -> None:
    """Show each built-in set: kind, size, source package, licence, and whether it is here."""
    from alignkit.data.builtin import data_home, list_sets

    rows = list_sets()
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r))
        return
    click.echo(f"cache: {data_home()}  (set ALIGNKIT_DATA to move it)\n")
    click.echo(f"{'name':<16}{'present':<9}{'kind':<16}{'size':<34}{'cached':<10}source / licence")
    for r in rows:
        click.echo(
            f"{r['name']:<16}{'yes' if r['present'] else 'no':<9}{r['kind']:<16}{r['size']:<34}"
            f"{_mb(r['cached_bytes']):<10}{r['source']} / {r['licence']}"
        )
    tasks = sorted(t for r in rows for t in r["tasks"])
    click.echo(f"\ntasks: {', '.join(tasks)}")
    missing = [r for r in rows if not r["present"]]
    for r in missing:
        click.echo(f"  {r['name']}: {r['how_to_get']}")
    click.echo(f"\ndemo training set: {_size_line()}")


def _size_line(spec: str | None = None) -> str:
    """One line: the training set's images and distinct concepts, or why they cannot be counted here."""
    from alignkit.data.builtin import TRAIN_SPEC, training_summary

    try:
        s = training_summary(spec or TRAIN_SPEC)
    except AlignkitError as e:
        return f"not countable here: {e}"
    return f"{s['images']:,} training images, {s['concepts']:,} distinct concepts  ({s['spec']})"


@data.command("size")
@click.argument("spec", required=False)
@format_option(("text", "json"), "json: the counts (and images per part) as JSON.", json_alias=True)
def size_cmd(spec: str | None, fmt: str) -> None:
    """Count a training source's images and distinct concepts (default: the demo's training set)."""
    from alignkit.data.builtin import TRAIN_SPEC, training_summary

    if fmt == "json":
        click.echo(json.dumps(training_summary(spec or TRAIN_SPEC)))
        return
    click.echo(_size_line(spec))


@data.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Fetch every set that can be fetched here; report the rest.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N items (clipart renders resume later; default: all).")
@verbosity_options
def fetch_cmd(names: tuple[str, ...], all_: bool, limit: int | None, quiet: bool) -> None:
    """Download or prepare built-in sets into the cache (emoji via npm, clipart rendering)."""
    from alignkit.data.builtin import SETS, fetch_set

    if not names and not all_:
        raise click.UsageError("name a set (see `alignkit data list`) or pass --all")
    todo = list(SETS) if all_ else list(names)
    failed = []
    for name in todo:
        try:
            info = fetch_set(name, limit=limit)
        except AlignkitError as e:
            if not all_:
                raise
            failed.append(name)
            click.echo(f"{name}: not available: {e}", err=True)
            continue
        summary = {k: v for k, v in info.items() if k not in ("render_failures", "packages")}
        if info.get("render_failures"):
            summary["render_failures"] = len(info["render_failures"])
        click.echo(f"{name}: ready {json.dumps(summary)}")
    if failed:
        click.echo(f"carried on without: {', '.join(failed)} (see `alignkit data list` for how to get them)", err=True)
        sys.exit(1)


@data.command("show")
@click.argument("spec")
@click.option("-n", "--head", default=5, show_default=True, type=click.IntRange(0), help="How many items to print.")
@click.option("--task", "is_task", is_flag=True, help="Read SPEC as a task spec (builtin:fashion-mnist, folder-task:DIR, ...).")
def show_cmd(spec: str, head: int, is_task: bool) -> None:
    """Read a --data source (or a task) to the end: counts, skips by reason, the first items."""
    from alignkit.data import open_source, open_task, summarize_skips

    if is_task:
        task = open_task(spec)
        click.echo(json.dumps(task.describe(), default=str))
        if hasattr(task, "classnames"):
            click.echo(f"classes: {task.classnames[:20]}{' ...' if len(task.classnames) > 20 else ''}")
            click.echo(f"prompts[0]: {task.prompts()[0][:3]}")
            rows = [(it.key, task.classnames[it.label]) for it in task.items[:head]]
        else:
            rows = [(p.key, p.captions) for p in task.pairs[:head]]
        skipped = task.skipped
    else:
        source = open_source(spec)
        pairs = list(source)
        click.echo(json.dumps({**source.describe(), "pairs": len(pairs), "captions": sum(len(p.captions) for p in pairs)}))
        rows = [(p.key, p.captions) for p in pairs[:head]]
        skipped = source.skipped
    for key, what in rows:
        click.echo(f"  {key}: {what}")
    counts = summarize_skips(skipped)
    click.echo(f"skipped: {sum(counts.values())} {json.dumps(counts) if counts else ''}")
