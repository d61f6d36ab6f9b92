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
from alignkit.evaluate.cached import TaskFeatures, score, task_features
from alignkit.evaluate.score_tasks import TaskResult, evaluate_task, paired_rows
from alignkit.options import ENCODE_BATCH_SIZE

Say = Callable[[str], None]


def fit_baselines(
    names: Sequence[str], vision: Any, text: Any, train: str, *, batch_size: int = ENCODE_BATCH_SIZE, progress: bool = True
) -> dict[str, Baseline]:
    """Each named baseline fitted in closed form on the frozen features of the ``train`` pairs
    (embedded through the features cache, so a rerun costs no encoder work)."""
    from alignkit.features.pairs import CachedPairs
    from alignkit.data import open_source
    from alignkit.data.base import caption_items, image_items
    from alignkit.features.cache import cached_features

    image_store = cached_features(vision, image_items(open_source(train)), train, batch_size=batch_size, progress=progress)
    text_store = cached_features(text, caption_items(open_source(train)), train, batch_size=batch_size, progress=progress)
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
    ``baselines`` on every task spec, task by task. Baselines use the ``vision``/``text``
    encoders (default: the first model's) and are fitted on ``train``. Each encoder is built
    once and each task embedded once per encoder, through the features cache."""
    from alignkit.encoders import create_encoder

    if not models and not baselines:
        raise AlignkitError("nothing to evaluate: give a model folder or hub id, or --baseline with --train")
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise AlignkitError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}")
    clash = sorted(set(models) & set(baselines))
    if clash:
        raise AlignkitError(f"the model name(s) {clash} are also baseline names; rename them with --name")
    encoders: dict[str, Any] = {}

    def encoder(spec: str) -> Any:
        if spec not in encoders:
            encoders[spec] = create_encoder(spec, device=device, engine=engine)
        return encoders[spec]

    entries: list[tuple[str, Any, Any, Any]] = []  # (name, model, vision encoder, text encoder)
    for name, model in models.items():
        pair = []
        for side, key in (("image", "vision"), ("text", "text")):
            enc = encoder(model.info[key]["spec"])
            model.attach_encoder(side, enc)  # refuses an encoder the heads were not trained on
            pair.append(enc)
        entries.append((name, model, *pair))
    if baselines:
        if not train:
            raise AlignkitError(f"--baseline {','.join(baselines)} needs --train PAIRS: the pairs each baseline is fitted on")
        first = next(iter(models.values()), None)
        v_spec = vision or (first.info["vision"]["spec"] if first else None)
        t_spec = text or (first.info["text"]["spec"] if first else None)
        if not (v_spec and t_spec):
            raise AlignkitError("baselines without an aligned model need both --vision and --text encoder specs")
        v, t = encoder(v_spec), encoder(t_spec)
        if v.modality != "image" or t.modality != "text":
            raise AlignkitError(f"--vision {v_spec!r} must encode images and --text {t_spec!r} text")
        say(f"fitting {', '.join(baselines)} on {train} ({v.spec} + {t.spec})")
        for name, fitted in fit_baselines(baselines, v, t, train, batch_size=batch_size, progress=progress).items():
            entries.append((name, fitted, v, t))

    opened = {spec: open_task(spec) for spec in tasks}
    check_task_names(opened)
    results: list[TaskResult] = []
    for spec, task in opened.items():
        features: dict[tuple[str, str], TaskFeatures] = {}
        for name, model, v, t in entries:
            if _uses_tokens(model):  # token heads need token features, which the cache does not keep
                say(f"{spec}: {name} has token heads; encoding the task for it directly")
                results.append(evaluate_task(model, task, name, batch_size=batch_size))
                continue
            key = (v.spec, t.spec)
            if key not in features:
                features[key] = task_features(task, spec, v, t, progress, batch_size=batch_size)
            results.append(score(model, features[key], name))
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
