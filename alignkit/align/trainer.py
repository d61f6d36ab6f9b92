"""The projector trainer: frozen features in, an AlignedModel folder out.

One loop serves one process and torchrun alike: each rank takes its slice of the same
global batch, the loss gathers features across ranks, and gradients are averaged by DDP,
so the update equals the single-process update on the global batch. Randomness is derived
from (seed, epoch), which makes a run resumed from its last checkpoint continue exactly.

Run folder::

    config.json, model.safetensors   the best model so far (AlignedModel.from_pretrained)
    recipe.json                      the full AlignConfig of the run
    metrics.jsonl                    one JSON line per epoch
    checkpoints/last/                resumable state (see checkpoint.py)
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from alignkit.align import distributed as D
from alignkit.align.augment import group_pairs, style_shifts
from alignkit.align.checkpoint import CheckpointError, has_checkpoint, load_checkpoint, save_checkpoint
from alignkit.align.config import AlignConfig
from alignkit.align.heads import members_of, shared_width
from alignkit.align.losses import ContrastiveLoss, build_loss
from alignkit.align.model import AlignedModel
from alignkit.align.pairs import CachedPairs, PairedData, PairsError, epoch_pairs, split_rows
from alignkit.align.placement import choose, fit_standardize
from alignkit.align.precision import resolve_precision
from alignkit.align.validation import retrieval_r1
from alignkit.devices import resolve_device
from alignkit.errors import AlignkitError
from alignkit.atomic import atomic_write_json

RECIPE = "recipe.json"
METRICS = "metrics.jsonl"
LAST = Path("checkpoints") / "last"
SELECTION = "selection"  # the validation run of a refit recipe
REFIT = "refit.json"
# keys that may change between a run and its resumption; anything else must match
RESUMABLE_CHANGES = {"epochs", "patience", "device", "online", "encode_batch_size", "features_in", "log_every"}


class _Trainable(nn.Module):
    """Heads and loss in one module, so DDP averages every trainable parameter."""

    def __init__(self, model: AlignedModel, loss: ContrastiveLoss):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, image: Any, text: Any, ids: torch.Tensor) -> torch.Tensor:
        zi = self.model.encode_image_features(image.pooled, image.tokens, image.mask)
        zt = self.model.encode_text_features(text.pooled, text.tokens, text.mask)
        k = self.model.members
        with torch.autocast(zi.device.type, enabled=False):  # the loss and its reductions in float32
            return sum(self.loss(i.float(), t.float(), ids) for i, t in zip(members_of(zi, k), members_of(zt, k))) / k


def train(
    config: AlignConfig,
    image_store: Any,
    text_store: Any,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    expected_fingerprints: dict[str, str] | None = None,
    concept_of: Callable[[str], str | None] | None = None,
) -> AlignedModel:
    """Train heads on cached features: an image store and a text store (paths or FeatureStore).

    ``expected_fingerprints`` ({"image": fp, "text": fp}) makes the run refuse stores made by
    other encoders than the ones it will be used with. ``concept_of`` (the source's
    `PairSource.concept_of`) groups images by concept instead of by identical captions.
    """
    from alignkit.features.store import FeatureStore

    config.validate()
    stores = {
        "image": image_store if isinstance(image_store, FeatureStore) else FeatureStore(image_store),
        "text": text_store if isinstance(text_store, FeatureStore) else FeatureStore(text_store),
    }
    encoders = {side: check_store(store, side, config, (expected_fingerprints or {}).get(side)) for side, store in stores.items()}
    device = resolve_device(config.device)
    where, why = choose(config.features_in, sum(len(s) * s.dim for s in stores.values()), device)
    if progress and D.rank() == 0:
        _note(f"features in {where}: {why}")
    data = CachedPairs.from_stores(
        stores["image"], stores["text"], image_tokens=config.uses_tokens("image"), text_tokens=config.uses_tokens("text"),
        concept_of=concept_of, features_in=where, device=device,
    )
    return train_pairs(config, data, out_dir, encoders=encoders, resume=resume, progress=progress)


def check_store(store: Any, side: str, config: AlignConfig, expected_fingerprint: str | None) -> dict[str, Any]:
    """The store's encoder identity, after checking it is the encoder the recipe names."""
    from alignkit.encoders.registry import canonical_spec

    spec = store.encoder.get("spec")
    wanted = config.vision if side == "image" else config.text
    if wanted and spec and canonical_spec(wanted) != spec:
        raise PairsError(f"the {side} store {store.path} was made by {spec!r}, but the recipe names {wanted!r}; embed with the right encoder or fix the recipe")
    if expected_fingerprint and store.fingerprint != expected_fingerprint:
        raise PairsError(
            f"the {side} store {store.path} was made by {spec!r} with fingerprint {store.fingerprint[:12]}, but the "
            f"encoder here has fingerprint {expected_fingerprint[:12]} (other weights or settings); re-embed it"
        )
    return {"spec": spec, "fingerprint": store.fingerprint}


def train_pairs(
    config: AlignConfig,
    data: PairedData,
    out_dir: str | Path,
    *,
    encoders: dict[str, dict[str, Any]] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> AlignedModel:
    """The training loop over any PairedData (cached or online). Returns the best model."""
    config.validate()
    if config.refit and config.val_fraction > 0:
        return _train_and_refit(config, data, out_dir, encoders=encoders, resume=resume, progress=progress)
    out = Path(out_dir)
    rank, world = D.rank(), D.world_size()
    device = resolve_device(config.device)
    groups = data.image_groups()
    train_rows, val_rows = split_rows(data.image_keys, config.val_fraction, config.seed, groups)
    captions_of = data.captions_of()
    n_pairs = len(train_rows) if config.captions == "sample" else int(sum(len(captions_of[i]) for i in train_rows))
    if n_pairs < 2:
        raise PairsError(
            f"the training split has {n_pairs} pair(s) ({len(data.image_keys)} images, val_fraction "
            f"{config.val_fraction}); a contrastive loss needs at least 2. Give more pairs or lower val_fraction"
        )
    local = min(config.batch_size, n_pairs) // world
    if local < 1:
        raise PairsError(f"{n_pairs} training pairs cannot fill one sample per rank on {world} ranks")
    global_batch = local * world
    steps_per_epoch = n_pairs // global_batch
    total_steps = steps_per_epoch * config.epochs
    shift_pairs = _shift_pairs(config, data, train_rows, groups, progress and rank == 0)

    torch.manual_seed(config.seed)
    model = _build_model(config, data, encoders or {})
    _fit_standardizers(model, data, train_rows, captions_of)
    if config.closed_form_init():
        _procrustes_init(model, data, train_rows, captions_of)
    loss = build_loss(config.loss, config.init_temperature, config.learn_temperature, config.max_logit_scale, config.siglip_bias_init)
    trainable = _Trainable(model, loss).to(device)
    # the fused kernel is ~8x faster than the per-tensor loop on CPU (measured: 0.04 vs 0.33 s a step)
    optimizer = torch.optim.AdamW(
        _param_groups(trainable, config.weight_decay), lr=config.lr, betas=(0.9, 0.98), eps=1e-6,
        fused=device.type in ("cpu", "cuda"),
    )
    precision = resolve_precision(config.precision, device)
    state: dict[str, Any] = {"epoch": 0, "step": 0, "best": -1.0, "best_epoch": -1, "bad_epochs": 0}
    if resume:
        state = _resume(out, trainable, optimizer, config, model)
        precision.load_state_dict(state.pop("grad_scaler", {}))
    else:
        _start_folder(out, rank)
    if rank == 0:
        config.save(out / RECIPE)
    ddp = nn.parallel.DistributedDataParallel(trainable, broadcast_buffers=False) if world > 1 else trainable

    for epoch in range(state["epoch"], config.epochs):
        if config.patience and state["bad_epochs"] >= config.patience:
            break
        t0 = time.perf_counter()
        torch.manual_seed(config.seed + 7919 * (epoch + 1) + rank)  # dropout masks
        img_rows, txt_rows = epoch_pairs(train_rows, captions_of, config.captions, torch.Generator().manual_seed(config.seed * 100_003 + epoch))
        shift_gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch + 7_777_777)
        trainable.train()
        loss_sum = torch.zeros((), dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)
        bar = _bar(steps_per_epoch, f"epoch {epoch + 1}/{config.epochs}", progress and rank == 0)
        for s in range(steps_per_epoch):
            mine = slice(s * global_batch + rank * local, s * global_batch + (rank + 1) * local)
            image, text = data.image_batch(img_rows[mine]), data.text_batch(txt_rows[mine]).to(device)
            if len(shift_pairs):  # drawn for the global batch, so every rank's slice matches one process
                shift = style_shifts(shift_pairs, lambda r: data.image_batch(r).pooled, config.style_shift, global_batch, shift_gen)
                image.pooled = image.pooled + shift[rank * local : (rank + 1) * local]
            image = image.to(device)
            ids = torch.from_numpy(groups[img_rows[mine]]).to(device)
            for group in optimizer.param_groups:
                group["lr"] = config.lr * _lr_factor(state["step"], total_steps, config.warmup_fraction)
            with precision.autocast():
                value = ddp(image, text, ids)
            optimizer.zero_grad(set_to_none=True)
            precision.backward(value)
            if config.grad_clip:
                precision.unscale_(optimizer)
                nn.utils.clip_grad_norm_(trainable.parameters(), config.grad_clip)
            precision.step(optimizer)
            loss.clamp_()
            state["step"] += 1
            loss_sum += value.detach()  # stays on the device: no host sync per step
            bar.update(1)
            if (s + 1) % config.log_every == 0:  # the only reads of the loss inside an epoch
                _require_finite(float(loss_sum), None, epoch, state["step"], config)  # a non-finite step poisons the sum
                bar.set_postfix(loss=f"{float(loss_sum) / (s + 1):.3f}", T=f"{loss.temperature:.4f}")
        bar.close()
        train_loss = float(loss_sum) / steps_per_epoch
        seconds = time.perf_counter() - t0
        if precision.scaler:
            state["grad_scaler"] = precision.state_dict()
        record = {
            "epoch": epoch + 1,
            "step": state["step"],
            "train_loss": D.mean_over_ranks(train_loss, device),
            "lr": optimizer.param_groups[0]["lr"],
            "temperature": loss.temperature,
            "seconds": round(seconds, 4),
            "pairs_per_s": round(steps_per_epoch * global_batch / seconds, 1),
        }
        _sync_scale(model, loss)
        score = record["train_loss"] * -1.0
        if len(val_rows):
            record.update(_validate(model, data, val_rows, captions_of, groups, device))
            score = (record["val_i2t_r1"] + record["val_t2i_r1"]) / 2
        improved = score > state["best"] if len(val_rows) else True
        state.update(epoch=epoch + 1)
        if improved:
            state.update(best=score, best_epoch=epoch + 1, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        record["best_epoch"] = state["best_epoch"]
        _require_finite(record["train_loss"], trainable, epoch, state["step"], config)  # never save a non-finite model
        if rank == 0:
            if improved:
                model.save_pretrained(out)
            save_checkpoint(out / LAST, trainable, optimizer, state)
            with open(out / METRICS, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            if progress:
                _print_epoch(record)
    if rank == 0 and config.memory > 0:
        _build_memory(out, config, data, train_rows, captions_of, device)
    if world > 1:
        torch.distributed.barrier()
    return AlignedModel.from_pretrained(out, device=str(device))


@torch.no_grad()
def _build_memory(out: Path, config: AlignConfig, data: PairedData, train_rows: np.ndarray, captions_of: list[np.ndarray],
                  device: torch.device, chunk: int = 2048) -> None:
    """Add the caption memory to the saved model: up to ``memory_size`` training images (a seeded
    sample), each with the mean of its captions' joint-space embeddings."""
    model = AlignedModel.from_pretrained(out, device=str(device))
    rows = np.asarray(train_rows)
    if len(rows) > config.memory_size:
        rows = np.sort(np.random.default_rng(config.seed).choice(rows, config.memory_size, replace=False))
    keys, values = [], []
    for s in range(0, len(rows), chunk):
        part = rows[s : s + chunk]
        keys.append(data.image_batch(part).pooled)
        for i in part:
            z = model.encode_text_features(**vars(data.text_batch(captions_of[i]).to(device)))
            values.append(z.mean(0).cpu())
    model.attach_memory(torch.cat(keys), torch.stack(values), config.memory_k, config.memory_temperature, config.memory)
    model.save_pretrained(out)


class TrainingDivergedError(AlignkitError):
    """The loss or the weights became NaN or infinite: the run stops and saves nothing of it."""


def _require_finite(loss: float, module: nn.Module | None, epoch: int, step: int, config: AlignConfig) -> None:
    """Stop with a clear error when the loss (or, with ``module``, any weight) is not finite."""
    bad = None if math.isfinite(loss) else f"the loss became {loss}"
    if bad is None and module is not None:
        bad = next((f"weight {n} became non-finite" for n, p in module.named_parameters() if not torch.isfinite(p).all()), None)
    if bad:
        raise TrainingDivergedError(
            f"training diverged at epoch {epoch + 1} (step {step}): {bad} with lr {config.lr:g}. Nothing of this "
            "epoch was saved; the last good model and checkpoint are kept. Lower --lr (or raise --temperature) "
            "and train again into a new --out"
        )


def _train_and_refit(
    config: AlignConfig, data: PairedData, out_dir: str | Path, *, encoders: dict[str, dict[str, Any]] | None,
    resume: bool, progress: bool,
) -> AlignedModel:
    """Choose the epoch count on the validation split (run kept in ``out/selection``), then train
    on every pair for that many epochs into ``out``. Held-out rows are whole concepts; leaving
    them out of the final model would drop those concepts from it for no benefit."""
    out = Path(out_dir)
    select = out / SELECTION
    if not resume:
        _refuse_existing(out, select)
    plan = _refit_plan(out, config) if resume else None
    if plan is None:  # the selection run (or its resumption), then the plan is saved before the refit starts
        if D.rank() == 0 and not has_checkpoint(out / LAST):
            out.mkdir(parents=True, exist_ok=True)
            config.save(out / RECIPE)  # `alignkit align --resume` reads it back; the refit run replaces it
        train_pairs(config.with_overrides({"refit": False}), data, select, encoders=encoders,
                    resume=resume and has_checkpoint(select / LAST), progress=progress)
        log = read_metrics(select)
        plan = {"selection": SELECTION, "epochs": refit_epochs(log, config.refit_tolerance), "best_epoch": log[-1]["best_epoch"],
                "epochs_run": len(log), "tolerance": config.refit_tolerance, "recipe": config.to_dict(), "finished": False}
        if D.rank() == 0:
            atomic_write_json(out / REFIT, plan)
        if progress and D.rank() == 0:
            _note(f"refit: validation R@1 peaked at epoch {plan['best_epoch']}; epoch {plan['epochs']} is the latest within "
                  f"{config.refit_tolerance} of it; training on every pair for {plan['epochs']} epochs")
    epochs = int(plan["epochs"])
    final = config.with_overrides({"refit": False, "val_fraction": 0.0, "epochs": epochs, "patience": 0})
    model = train_pairs(final, data, out, encoders=encoders, resume=resume and has_checkpoint(out / LAST), progress=progress)
    if D.rank() == 0:
        chosen = next((r for r in read_metrics(select) if r["epoch"] == epochs), {})
        atomic_write_json(out / REFIT, {**plan, "finished": True, **{k: v for k, v in chosen.items() if k.startswith("val_")}})
    return model


def _refit_plan(out: Path, config: AlignConfig) -> dict[str, Any] | None:
    """The saved plan of a refit run whose selection run finished (None before that): resuming
    reads its epoch count instead of the command line's, so the result equals an uninterrupted run."""
    path = out / REFIT
    if not path.exists():
        return None
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
        saved = plan["recipe"]
        int(plan["epochs"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is damaged ({e}); delete {out} to start again") from None
    _refuse_changes(saved, config.to_dict(), path)
    return plan


def saved_recipe(out: str | Path) -> AlignConfig | None:
    """The recipe a run in ``out`` was started with, for ``--resume``: a refit run's own recipe
    (its refit.json), else recipe.json; None when neither exists."""
    out = Path(out)
    if (out / REFIT).exists():
        try:
            return AlignConfig.from_dict(json.loads((out / REFIT).read_text(encoding="utf-8"))["recipe"])
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{out / REFIT} is damaged ({e}); delete {out} to start again") from None
    return AlignConfig.from_file(out / RECIPE) if (out / RECIPE).exists() else None


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of a run folder (loss, validation R@1, seconds); empty before its first epoch."""
    path = Path(run) / METRICS
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()] if path.exists() else []


def refit_epochs(log: list[dict[str, Any]], tolerance: float) -> int:
    """The latest epoch whose mean validation R@1 is within ``tolerance`` of the best one (every
    epoch run when the split left no validation rows, as can happen on tiny data)."""
    scores = [(r["epoch"], (r["val_i2t_r1"] + r["val_t2i_r1"]) / 2) for r in log if "val_i2t_r1" in r]
    if not scores:
        return int(log[-1]["epoch"])
    best = max(s for _, s in scores)
    return max(e for e, s in scores if s >= best - tolerance)


def _shift_pairs(config: AlignConfig, data: PairedData, train_rows: np.ndarray, groups: np.ndarray, say: bool) -> np.ndarray:
    """The rendering pairs style shift draws from; none (with a note) where it cannot act: on
    --online data (each shift would run the image encoder twice more per image) or data where no
    concept has two renderings."""
    none = np.zeros((0, 2), dtype=np.int64)
    if config.style_shift <= 0:
        return none
    if not isinstance(data, CachedPairs):
        if say:
            _note("style_shift is off for --online training: it works on cached features")
        return none
    pairs = group_pairs(train_rows, groups)
    if not len(pairs) and say:
        _note("style_shift has no effect: no training group holds two images (no concept in two renderings)")
    return pairs


def _note(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message)


def _build_model(config: AlignConfig, data: PairedData, encoders: dict[str, dict[str, Any]]) -> AlignedModel:
    sides = {}
    for side, dim, token_dim in (("image", data.image_dim, data.image_token_dim), ("text", data.text_dim, data.text_token_dim)):
        if config.uses_tokens(side) and token_dim is None:
            raise PairsError(f"the {side} head is a token head but the {side} features carry no tokens; embed with --tokens or use --online")
        info = encoders.get(side, {})
        sides[side] = {
            "spec": info.get("spec") or (config.vision if side == "image" else config.text),
            "fingerprint": info.get("fingerprint"),
            "dim": int(dim),
            "token_dim": int(token_dim) if config.uses_tokens(side) else None,
        }
    width = shared_width(config.image_head, config.text_head, data.image_dim, data.text_dim, config.embed_dim)
    return AlignedModel.create(sides["image"], sides["text"], config.image_head, config.text_head, width,
                               training=config.to_dict(), members=config.ensemble)


def _fit_standardizers(model: AlignedModel, data: PairedData, train_rows: np.ndarray, captions_of: list[np.ndarray]) -> None:
    """Fit input standardisation on the training split only (never on validation rows)."""
    for outer, fetch, rows, dim in (
        (model.image_head, data.image_batch, train_rows, data.image_dim),
        (model.text_head, data.text_batch, np.concatenate([captions_of[i] for i in train_rows]), data.text_dim),
    ):
        for head in getattr(outer, "members", [outer]):
            if head.standardize is not None:
                with torch.no_grad():  # in chunks: the features may be a memory-mapped store larger than RAM
                    fit_standardize(head.standardize, lambda r: fetch(r).pooled, rows, dim, scale=head.scale_inputs)


def _procrustes_init(model: AlignedModel, data: PairedData, train_rows: np.ndarray, captions_of: list[np.ndarray]) -> None:
    """Start the residual image head at the orthogonal Procrustes map (fitted on the training
    split's pairs, one row per caption) into the identity text head's centred space."""
    from alignkit.evaluate.baselines import Procrustes

    img = np.concatenate([np.repeat(i, len(captions_of[i])) for i in train_rows])
    txt = np.concatenate([captions_of[i] for i in train_rows])
    fitted = Procrustes().fit(data.image_batch(img).pooled.numpy(), data.text_batch(txt).pooled.numpy())
    weight = torch.as_tensor(fitted.image_to_text_space(), dtype=torch.float32)
    for head in getattr(model.image_head, "members", [model.image_head]):
        head.set_linear(weight)


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only: not on biases, norms or the temperature."""
    decay, no_decay = [], []
    for p in module.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr_factor(step: int, total: int, warmup_fraction: float) -> float:
    """Linear warmup, then cosine decay to zero."""
    warmup = int(total * warmup_fraction)
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _sync_scale(model: AlignedModel, loss: ContrastiveLoss) -> None:
    model.info["logit_scale"] = float(loss.logit_scale.detach())
    bias = getattr(loss, "logit_bias", None)
    model.info["logit_bias"] = None if bias is None else float(bias.detach())


@torch.no_grad()
def _validate(model: AlignedModel, data: PairedData, val_rows: np.ndarray, captions_of: list[np.ndarray], groups: np.ndarray, device: torch.device, chunk: int = 2048) -> dict[str, float]:
    model.eval()
    text_rows = np.concatenate([captions_of[i] for i in val_rows])
    owner_of = {int(r): k for k, r in enumerate(val_rows)}
    owner = np.array([owner_of[int(o)] for o in data.text_owner[text_rows]])
    zi = torch.cat([model.encode_image_features(**vars(data.image_batch(val_rows[s : s + chunk]).to(device))).cpu() for s in range(0, len(val_rows), chunk)])
    zt = torch.cat([model.encode_text_features(**vars(data.text_batch(text_rows[s : s + chunk]).to(device))).cpu() for s in range(0, len(text_rows), chunk)])
    r = retrieval_r1(zi, zt, owner, groups[val_rows])
    return {
        "val_i2t_r1": r["i2t_r1"], "val_t2i_r1": r["t2i_r1"], "val_i2t_chance": r["i2t_chance"],
        "val_t2i_chance": r["t2i_chance"], "val_chance_r1": max(r["i2t_chance"], r["t2i_chance"]),
        "val_images": len(val_rows), "val_texts": len(text_rows),
    }


def _resume(out: Path, trainable: nn.Module, optimizer: torch.optim.Optimizer, config: AlignConfig, model: AlignedModel) -> dict[str, Any]:
    recipe = out / RECIPE
    if not recipe.exists():
        raise CheckpointError(f"nothing to resume in {out}: no {RECIPE} (run without --resume to start)")
    _refuse_changes(json.loads(recipe.read_text(encoding="utf-8")), config.to_dict(), recipe)
    saved_model = out / "config.json"
    if saved_model.exists():
        info = json.loads(saved_model.read_text(encoding="utf-8"))
        for side in ("vision", "text"):
            if info[side]["dim"] != model.info[side]["dim"]:
                raise CheckpointError(f"the run in {out} was trained on {info[side]['dim']}-d {side} features, these are {model.info[side]['dim']}-d")
    state = load_checkpoint(out / LAST, trainable, optimizer)
    _truncate_metrics(out / METRICS, state["epoch"])
    return state


def _refuse_changes(saved: dict[str, Any], now: dict[str, Any], where: Path) -> None:
    changed = sorted(k for k in set(saved) | set(now) if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k))
    if changed:
        raise CheckpointError(f"the recipe differs from the run being resumed ({where}) in: {', '.join(changed)}; "
                              "resume with the same recipe or use a new --out")


def _refuse_existing(out: Path, *runs: Path) -> None:
    """Refuse to start over a run in ``out`` (or in any of ``runs`` inside it)."""
    if any(has_checkpoint(run / LAST) for run in (out, *runs)):
        raise AlignkitError(f"{out} already holds a training run; pass --resume to continue it, or choose a new --out")


def _start_folder(out: Path, rank: int) -> None:
    """Refuse (on every rank, so none waits alone) to overwrite a run; rank 0 prepares the folder."""
    _refuse_existing(out)
    if rank != 0:
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS).unlink(missing_ok=True)


def _truncate_metrics(path: Path, epochs_done: int) -> None:
    """Drop log lines of epochs after the checkpoint (written before a crash lost their checkpoint)."""
    if not path.exists():
        return
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and json.loads(ln)["epoch"] <= epochs_done]
    path.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=False, dynamic_ncols=True)


def _print_epoch(record: dict[str, Any]) -> None:
    from tqdm.auto import tqdm

    parts = [f"epoch {record['epoch']}", f"loss {record['train_loss']:.4f}", f"T {record['temperature']:.4f}"]
    if "val_i2t_r1" in record:
        parts.append(f"val R@1 i2t {record['val_i2t_r1']:.3f} t2i {record['val_t2i_r1']:.3f} (chance {record['val_chance_r1']:.3f})")
    tqdm.write("  ".join(parts))
