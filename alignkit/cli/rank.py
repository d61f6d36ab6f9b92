"""`alignkit rank-encoders`: which vision x text encoder pair has the most alike spaces."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import click

from alignkit.cli.common import DEGENERATE_PERMUTATIONS, format_option, verbosity_options
from alignkit.devices import DEVICE_HELP
from alignkit.engines import ENGINE_HELP, ENGINES
from alignkit.options import NON_EMPTY, OUT_FOLDER, finite_float

DEFAULT_PROBE = "builtin:emoji?split=probe&n=1000"


@click.command("rank-encoders")
@click.option("--vision-zoo", type=NON_EMPTY, default="offline", show_default=True,
              help="Comma-separated image encoder specs and/or presets: offline, offline+controls, paper.")
@click.option("--text-zoo", type=NON_EMPTY, default="offline", show_default=True, help="Comma-separated text encoder specs and/or presets.")
@click.option("--probe", "probe_spec", type=NON_EMPTY, default=DEFAULT_PROBE, show_default=True, help="Probe image-caption pairs (a --data spec).")
@click.option("--n", "n_probe", type=click.IntRange(20), default=1000, show_default=True, help="Probe pairs to use (at most).")
@click.option("--metrics", type=NON_EMPTY, default="linear_cka,unbiased_cka,mutual_knn,cknna,svcca,alignment_probe", show_default=True,
              help="Comma-separated metrics (see alignkit.similarity.METRICS).")
@click.option("--primary", type=NON_EMPTY, default="linear_cka", show_default=True, help="Metric the ranking sorts by (calibrated).")
@click.option("--k", default=10, show_default=True, type=click.IntRange(1), help="Neighbours for the k-NN metrics.")
@click.option("--svcca-share", default=0.95, show_default=True, type=finite_float(0, 1, min_open=True),
              help="Share of variance SVCCA keeps per side (0.99 needs more probe pairs than kept components).")
@click.option("--bootstrap", default=50, show_default=True, type=click.IntRange(0), help="Resamples for the intervals.")
@click.option("--permutations", default=50, show_default=True, type=click.IntRange(0),
              help="Shuffled pairings for the null (0: no calibration; the ranking then sorts by the raw metric, with a warning).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0), help="Seed of the probe sample, resamples and shuffles.")
@click.option("--device", type=NON_EMPTY, default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True, help=ENGINE_HELP)
@click.option("--layerwise", is_flag=True, help="Also score every intermediate layer and report each encoder's best.")
@format_option(("table", "json"), "json: one object per pair with every metric, raw and calibrated, with its interval.")
@click.option("--out", type=OUT_FOLDER, default=None,
              help="Report folder (default: reports/rank-<time>).")
@verbosity_options
@click.option("--skip-missing", is_flag=True,
              help="Rank the encoders that can be loaded here and skip (and name) the rest, instead of stopping.")
def rank_encoders(vision_zoo, text_zoo, probe_spec, n_probe, metrics, primary, k, svcca_share, bootstrap, permutations, seed,
                  device, engine, layerwise, fmt, out, skip_missing, quiet):
    """Rank every vision x text encoder pair by CKA, mutual k-NN and more, raw and calibrated."""
    from alignkit.data import open_source
    from alignkit.errors import AlignkitError
    from alignkit.rank.scoring import RankConfig, align_rows, checked_zoos, embed_probe, score_all
    from alignkit.rank.table import best_layers, floor_note, pair_json, ranking
    from alignkit.rank.page import write_rank_report
    from alignkit.evaluate.verdicts import plural

    metric_list = tuple(m.strip() for m in metrics.split(",") if m.strip())
    if primary not in metric_list:
        raise click.BadParameter(f"{primary} is not among --metrics {','.join(metric_list)}", param_hint="--primary")
    config = RankConfig(metrics=metric_list, n_probe=n_probe, k=k, svcca_share=svcca_share, bootstrap=bootstrap, permutations=permutations,
                        seed=seed, device=device, engine=engine, primary=primary, layerwise=layerwise)
    say = (lambda s: None) if quiet else (lambda s: click.echo(s, err=True))
    if permutations == 0:
        click.echo(DEGENERATE_PERMUTATIONS, err=True)
    out = out or Path("reports") / time.strftime("rank-%Y%m%d-%H%M%S")
    click.echo(f"alignkit rank-encoders will: embed up to {n_probe} probe pairs of {probe_spec} with every encoder of "
        f"{vision_zoo} and of {text_zoo} (once each), score every image x text pair by {', '.join(metric_list)} "
        f"({bootstrap} bootstrap resamples, {permutations} shuffled pairings; cached), and write {out / 'index.html'}.", err=True)
    t0 = time.perf_counter()
    vision_specs, text_specs = checked_zoos(vision_zoo, text_zoo, skip_missing, say)  # before any work
    vision = embed_probe(vision_specs, "image", probe_spec, config, open_source, say)
    text = embed_probe(text_specs, "text", probe_spec, config, open_source, say)
    keys = align_rows(vision, text, n_probe)
    rows = score_all(vision, text, keys, config, say, bars=not quiet)
    ranked = ranking(rows, primary)
    layers = best_layers(rows, primary) if layerwise else []
    if fmt == "json":
        for e in ranked:
            click.echo(json.dumps(pair_json(e, metric_list)))
    else:
        click.echo(format_ranking(ranked, metric_list, primary, len(keys)))
        for entry in layers:
            click.echo(f"best layer of {entry['encoder']}: {entry['best_layer']} "
                       f"({primary} {entry[f'best_{primary}']:.3f} vs final {entry[f'final_{primary}']:.3f})")
    command = "alignkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    page = write_rank_report(out, rows, ranked, layers, metric_list, primary, probe_spec, len(keys), command,
                             _examples(open_source(probe_spec), set(keys[:12])))
    say(f"{plural(len(ranked), 'pair')} on {len(keys)} probe pairs in {time.perf_counter() - t0:.1f}s")
    if floor := floor_note(ranked, metric_list, permutations):
        click.echo(f"warning: {floor}", err=True)
    click.echo(f"report: {page}", err=True)  # the answer, even with --quiet
    click.echo(best_pair_line(ranked, primary), err=True)


def best_pair_line(ranked: list[dict], primary: str) -> str:
    """The one-line answer: the pair to align (the best-ranked pair that is not a control), and
    the pairs statistically tied with it (``alignkit.rank.table.ties``)."""
    from alignkit.rank.table import ties

    tied = ties(ranked, primary)
    real = [e for e in ranked if not e["control"]]
    if not real:
        return "answer: every ranked pair is a control; add real encoders to the zoos"
    e = real[0]
    line = (f"answer: align {e['vision']} + {e['text']} (rank {e['rank']} of {len(ranked)}; "
            f"calibrated {primary} {_num(e.get(f'{primary}_cal'))})")
    if tied:
        names = "; ".join(f"{t['vision']} + {t['text']} (rank {t['rank']}, difference {t['difference']:+.3f} "
                          f"[{t['low']:+.3f}, {t['high']:+.3f}])" for t in tied)
        line += (f", statistically tied with {names}: {'either' if len(tied) == 1 else 'any of them'} will do, or rank "
                 "on more probe pairs to separate them")
    return line


def format_ranking(ranked: list[dict], metrics: tuple[str, ...], primary: str, n_probe: int | None = None) -> str:
    """The ranking as a plain-text table; a pair whose metrics failed or are degenerate says so in its notes."""
    from alignkit.rank.table import pair_notes

    shown = [primary] + [m for m in metrics if m != primary][:3]
    head = ["rank", "vision", "text", "control"] + [f"{m}" for m in shown] + [f"{primary} cal. [95% CI]", "p"]
    notes = [pair_notes(e, metrics, n_probe) for e in ranked]
    if any(notes):
        head.append("notes")
    lines = []
    for e, why in zip(ranked, notes):
        lo, hi = e[f"{primary}_cal_ci"]
        cells = [str(e["rank"]), e["vision"], e["text"], "yes" if e["control"] else ""]
        cells += [_num(e.get(m)) for m in shown]
        cells += [f"{_num(e.get(f'{primary}_cal'))} [{_num(lo)}, {_num(hi)}]", _num(e.get(f"{primary}_p"))]
        lines.append(cells + ([why] if any(notes) else []))
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines])


def _num(x) -> str:
    return "nan" if x is None or x != x else f"{x:.3f}"


def _examples(source, keys: set[str]):
    from alignkit.data.images import decode_image
    from alignkit.errors import BadItemError

    out = []
    for pair in source:
        if pair.key in keys:
            try:
                out.append((decode_image(pair.image), pair.captions[0]))
            except BadItemError:
                continue
        if len(out) == len(keys):
            break
    return out
