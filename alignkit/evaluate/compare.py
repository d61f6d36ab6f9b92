"""Several models side by side on the same tasks: aligned models (folders or hub ids) and
training-free baselines fitted on the user's pairs, all scored on features from the shared
features cache, so a second evaluation of the same tasks re-encodes nothing.

    results = evaluate_models({"m": AlignedModel.from_pretrained("org/m")}, ["builtin:emoji"],
                              baselines=["asif", "procrustes"], train="folder:/data/pairs")
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from alignkit.data.tasks import open_task
from alignkit.errors import AlignkitError
from alignkit.evaluate.baselines import BASELINES, Baseline, make_baseline
from alignkit.evaluate.cached import TaskFeatures, embed_task_side, features_from_stores, score
from alignkit.evaluate.score_tasks import TaskResult, evaluate_task, paired_rows
from alignkit.options import ENCODE_BATCH_SIZE

Say = Callable[[str], None]


def fit_baselines(
    names: Sequence[str], vision: Any, text: Any, train: str, *, batch_size: int = ENCODE_BATCH_SIZE, progress: bool = True
) -> dict[str, Baseline]:
    """Each named baseline fitted in closed form on the frozen features of the ``train`` pairs
    (embedded through the features cache, so a rerun costs no encoder work). ``vision`` and
    ``text`` are encoders, or zero-argument callables returning one (so a caller can hold one at a time)."""
    from alignkit.features.pairs import CachedPairs
    from alignkit.data import open_source
    from alignkit.data.base import caption_items, image_items
    from alignkit.features.cache import cached_features

    get = lambda e: e() if callable(e) else e  # noqa: E731  (an Encoder is not callable)
    image_store = cached_features(get(vision), image_items(open_source(train)), train, batch_size=batch_size, progress=progress)
    text_store = cached_features(get(text), caption_items(open_source(train)), train, batch_size=batch_size, progress=progress)
    data = CachedPairs.from_stores(image_store, text_store)
    x, y = paired_rows(data.pooled_features("image"), data.pooled_features("text"), data.text_owner)
    return {name: make_baseline(name).fit(x, y) for name in names}


def evaluate_models(
    models: dict[str, Any],
    tasks: Sequence[str],
    *,
    baselines: Sequence[str] = (),
    train: str | None = None,
    vision: str | None = None,
    text: str | None = None,
    device: str = "auto",
    engine: str = "auto",
    batch_size: int = ENCODE_BATCH_SIZE,
    progress: bool = True,
    say: Say = lambda s: None,
) -> list[TaskResult]:
    """Results of every aligned model in ``models`` (name -> AlignedModel) and every baseline in
    ``baselines`` on every task spec. Baselines use the ``vision``/``text`` encoders (default: the
    first model's) and are fitted on ``train``. One frozen encoder is in memory at a time: every
    task's images are embedded with one encoder, then every task's text with the other, each
    once per encoder, through the features cache."""
    from alignkit.encoders import EncoderSlot, create_encoder

    if not models and not baselines:
        raise AlignkitError("nothing to evaluate: give a model folder or hub id, or --baseline with --train")
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise AlignkitError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}")
    clash = sorted(set(models) & set(baselines))
    if clash:
        raise AlignkitError(f"the model name(s) {clash} are also baseline names; rename them with --name")
    slot = EncoderSlot(device=device, engine=engine)
    entries: list[tuple[str, Any, str, str]] = []  # (name, model, vision spec, text spec)
    for side, key in (("image", "vision"), ("text", "text")):  # side by side: each encoder built once here
        for model in sorted(models.values(), key=lambda m: m.info[key]["spec"]):
            model.check_encoder(side, slot.get(model.info[key]["spec"]))  # refuses an encoder the heads were not trained on
    entries += [(name, m, m.info["vision"]["spec"], m.info["text"]["spec"]) for name, m in models.items()]
    if baselines:
        if not train:
            raise AlignkitError(f"--baseline {','.join(baselines)} needs --train PAIRS: the pairs each baseline is fitted on")
        first = next(iter(models.values()), None)
        v_spec = vision or (first.info["vision"]["spec"] if first else None)
        t_spec = text or (first.info["text"]["spec"] if first else None)
        if not (v_spec and t_spec):
            raise AlignkitError("baselines without an aligned model need both --vision and --text encoder specs")
        def side(spec: str, modality: str, flag: str) -> Any:
            enc = slot.get(spec)
            if enc.modality != modality:
                raise AlignkitError(f"{flag} {spec!r} must encode {'images' if modality == 'image' else 'text'}")
            return enc

        say(f"fitting {', '.join(baselines)} on {train} ({v_spec} + {t_spec})")
        fitted = fit_baselines(baselines, lambda: side(v_spec, "image", "--vision"), lambda: side(t_spec, "text", "--text"),
                               train, batch_size=batch_size, progress=progress)
        entries += [(name, b, v_spec, t_spec) for name, b in fitted.items()]

    opened = {spec: open_task(spec) for spec in tasks}
    check_task_names(opened)
    pooled = [e for e in entries if not _uses_tokens(e[1])]
    stores: dict[tuple[str, str, str], Any] = {}
    held_text = slot.held in {e[3] for e in pooled}  # start with the side whose encoder is loaded
    for modality, at in (("text", 3), ("image", 2)) if held_text else (("image", 2), ("text", 3)):
        for enc_spec in dict.fromkeys(e[at] for e in pooled):
            for spec, task in opened.items():
                stores[spec, modality, enc_spec] = embed_task_side(task, spec, modality, slot.get(enc_spec), progress, batch_size)
    slot.clear()
    results: list[TaskResult] = []
    for spec, task in opened.items():
        features: dict[tuple[str, str], TaskFeatures] = {}
        for name, model, v, t in entries:
            if _uses_tokens(model):  # token heads need token features, which the cache does not keep
                say(f"{spec}: {name} has token heads; encoding the task for it directly")
                for side, s in (("image", v), ("text", t)):
                    model.attach_encoder(side, create_encoder(s, device=device, engine=engine))
                results.append(evaluate_task(model, task, name, batch_size=batch_size))
                continue
            if (v, t) not in features:
                features[v, t] = features_from_stores(task, stores[spec, "image", v], stores[spec, "text", t])
            results.append(score(model, features[v, t], name))
    return results


def check_task_names(tasks: dict[str, Any]) -> None:
    """Results are keyed by task name: two specs under one name would silently merge."""
    seen: dict[str, str] = {}
    for spec, task in tasks.items():
        if task.name in seen:
            raise AlignkitError(f"tasks {seen[task.name]!r} and {spec!r} are both named {task.name!r}; "
                                "their results would mix. Give one of them another name (or drop one).")
        seen[task.name] = spec


def _uses_tokens(model: Any) -> bool:
    return any(getattr(getattr(model, f"{side}_head", None), "uses_tokens", False) for side in ("image", "text"))
