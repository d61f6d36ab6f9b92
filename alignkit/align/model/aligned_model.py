"""AlignedModel: two frozen encoders plus their trained heads, saved as a folder.

    model.safetensors   head weights (and input standardisation buffers)
    config.json         both encoder specs, fingerprints and widths, the heads, the
                        temperature, the training recipe that produced them and
                        ``training_data`` (row counts, keys digest, the feature stores' digests)
    provenance.json     alignkit, torch, transformers, sentence-transformers and onnxruntime
                        versions, the git commit (+dirty) alignkit ran from, the time

The encoders themselves are not saved: they are rebuilt from their specs when images or
texts are encoded, and their fingerprints are compared with the ones the heads were
trained on, so a model never silently runs on different features.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alignkit.align.recipe import HeadConfig
from alignkit.align.model.heads import Head, build_head
from alignkit.align.model.hub import CONFIG, PROVENANCE, WEIGHTS, ModelLoadError, resolve_model_path, upload_model
from alignkit.align.model.caption_memory import CaptionMemory
from alignkit.align.model.run_state import require_finished
from alignkit.engines import engine_option
from alignkit.errors import AlignkitError
from alignkit.options import ENCODE_BATCH_SIZE
from alignkit.provenance import run_provenance

FORMAT = "alignkit-aligned/1"
SIDES = {"image": "vision", "text": "text"}


class AlignedModel(nn.Module):
    """Image and text heads over two frozen encoders; ``encode_*`` return L2-normalised vectors."""

    def __init__(self, info: dict[str, Any]):
        super().__init__()
        self.info = info
        self.engine = "auto"  # what runs the frozen encoders when raw images/texts come in
        self.image_head = _head(info, "image")
        self.text_head = _head(info, "text")
        mem = info.get("memory")
        self.memory = (CaptionMemory(mem["size"], int(info["vision"]["dim"]), int(info["shared_dim"]), mem["k"], mem["temperature"], mem["weight"])
                       if mem else None)
        self._encoders: dict[str, Any] = {}

    # ---- construction ---------------------------------------------------------------
    @classmethod
    def create(
        cls,
        vision: dict[str, Any],
        text: dict[str, Any],
        image_head: HeadConfig,
        text_head: HeadConfig,
        shared_dim: int,
        training: dict[str, Any] | None = None,
        members: int = 1,
    ) -> "AlignedModel":
        """``vision``/``text``: {spec, fingerprint, dim, token_dim} of the encoder behind each side.
        ``shared_dim`` is one member's width; an ensemble of ``members`` outputs members x shared_dim."""
        info = {
            "format": FORMAT,
            "vision": dict(vision),
            "text": dict(text),
            "image_head": vars(image_head).copy(),
            "text_head": vars(text_head).copy(),
            "shared_dim": shared_dim * members,
            "members": members,
            "logit_scale": math.log(1 / 0.07),
            "logit_bias": None,
            "training": training or {},
        }
        return cls(info)

    @property
    def members(self) -> int:
        """How many independently trained head pairs the model averages (1: a single pair)."""
        return int(self.info.get("members", 1))

    @property
    def temperature(self) -> float:
        return math.exp(-self.info["logit_scale"])

    # ---- features -> joint space ----------------------------------------------------
    def encode_image_features(self, pooled: Any, tokens: Any = None, mask: Any = None, normalize: bool = True) -> torch.Tensor:
        """Cached image features (N, D) (+ tokens for a token head) -> joint-space vectors, mixed with
        the caption memory's neighbours when the model has one. The memory mixes unit vectors, so a
        model with one returns unit vectors whatever ``normalize`` says: every caller (open_clip and
        CLIP_benchmark, which normalise afterwards, included) scores the same model."""
        z = self._project(self.image_head, "image", pooled, tokens, mask, normalize or self.memory is not None)
        if self.memory is not None:
            z = self.memory(_tensor(pooled, self.device), z)
        return z

    def attach_memory(self, image_features: torch.Tensor, values: torch.Tensor, k: int, temperature: float, weight: float) -> None:
        """Give the model a caption memory (see ``alignkit.align.model.caption_memory``): keys from raw training image
        features, values the joint-space caption embeddings of those images."""
        self.info["memory"] = {"size": int(len(image_features)), "k": int(k), "temperature": float(temperature), "weight": float(weight)}
        self.memory = CaptionMemory(len(image_features), int(self.info["vision"]["dim"]), int(self.info["shared_dim"]), k, temperature, weight)
        self.memory.fill(image_features.to(self.memory.keys.device), values)
        self.memory.to(self.device)

    def encode_text_features(self, pooled: Any, tokens: Any = None, mask: Any = None, normalize: bool = True) -> torch.Tensor:
        """Cached text features (N, D) (+ tokens for a token head) -> joint-space vectors."""
        return self._project(self.text_head, "text", pooled, tokens, mask, normalize)

    def _project(self, head: Head, side: str, pooled: Any, tokens: Any, mask: Any, normalize: bool) -> torch.Tensor:
        device = self.device
        pooled = _tensor(pooled, device)
        if pooled.ndim != 2 or pooled.shape[1] != head.in_dim:
            raise ModelLoadError(
                f"{side} features have shape {tuple(pooled.shape)} but this model's {side} head expects "
                f"(N, {head.in_dim}) from {self.info[SIDES[side]]['spec']}; were they made by another encoder?"
            )
        if head.uses_tokens and tokens is None:
            raise ModelLoadError(f"this model's {side} head is a token head: pass token features and mask too")
        out = head(pooled, _tensor(tokens, device), None if mask is None else torch.as_tensor(mask, device=device))
        return F.normalize(out.float(), dim=-1) if normalize else out

    @property
    def device(self) -> torch.device:
        param = next(self.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    # ---- raw inputs -> joint space --------------------------------------------------
    @torch.no_grad()
    def encode_image(self, images: Sequence[Any], batch_size: int = ENCODE_BATCH_SIZE) -> torch.Tensor:
        """Images (paths, bytes or PIL images) -> (N, shared_dim) normalised vectors."""
        from alignkit.data.images import decode_image

        decoded = []
        for i, ref in enumerate(images):
            try:
                decoded.append(decode_image(ref))
            except AlignkitError as e:
                raise AlignkitError(f"image {i} ({_describe(ref)}) cannot be used: {e}") from None
        return self._encode_raw("image", decoded, batch_size)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], batch_size: int = ENCODE_BATCH_SIZE) -> torch.Tensor:
        """Strings -> (N, shared_dim) normalised vectors."""
        if isinstance(texts, str):
            texts = [texts]
        return self._encode_raw("text", list(texts), batch_size)

    def _encode_raw(self, side: str, items: list[Any], batch_size: int) -> torch.Tensor:
        if not items:
            return torch.zeros(0, self.info["shared_dim"])
        head = self.image_head if side == "image" else self.text_head
        out = self.encoder(side).encode(items, batch_size=batch_size, tokens=head.uses_tokens)
        was_training = self.training
        self.eval()
        try:
            if side == "image":
                return self.encode_image_features(out.pooled, out.tokens, out.mask)
            return self._project(head, side, out.pooled, out.tokens, out.mask, True)
        finally:
            self.train(was_training)

    def encoder(self, side: str) -> Any:
        """The frozen encoder behind ``side`` ('image' or 'text'), built from its spec on first use."""
        if side not in self._encoders:
            from alignkit.encoders import create_encoder

            spec = self.info[SIDES[side]]["spec"]
            self.attach_encoder(side, create_encoder(spec, device=str(self.device), engine=self.engine))
        return self._encoders[side]

    def attach_encoder(self, side: str, encoder: Any, strict: bool = True) -> None:
        """Use ``encoder`` for ``side``; refuse (unless not ``strict``) one whose fingerprint differs from training."""
        if strict:
            self.check_encoder(side, encoder)
        self._encoders[side] = encoder

    def check_encoder(self, side: str, encoder: Any) -> None:
        """Refuse an encoder for ``side`` whose fingerprint differs from the one the heads were trained on
        (without keeping it: scoring on cached features needs only the check)."""
        expected = self.info[SIDES[side]].get("fingerprint")
        got = encoder.encoder_fingerprint()  # any engine: heads depend on what the features mean
        if expected and got != expected:
            raise ModelLoadError(
                f"the {side} encoder {encoder.spec!r} here has fingerprint {got[:12]}, but this model's heads were "
                f"trained on features with fingerprint {expected[:12]} (other weights, preprocessing, layer or "
                "pooling). Its outputs would be wrong; install the same encoder version, or retrain."
            )

    # ---- persistence ----------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> Path:
        """Write model.safetensors + config.json (each atomically) into ``path``."""
        from safetensors.torch import save

        from alignkit.atomic import atomic_write_bytes, atomic_write_json

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        atomic_write_bytes(path / WEIGHTS, save(tensors))
        atomic_write_json(path / CONFIG, self.info)
        atomic_write_json(path / PROVENANCE, run_provenance(data=self.info.get("training_data")))
        return path

    @classmethod
    def from_pretrained(
        cls, path_or_hub_id: str | Path, revision: str | None = None, device: str = "auto", cache_dir: str | Path | None = None,
        engine: str = "auto", allow_unfinished: bool = False,
    ) -> "AlignedModel":
        """Load a model folder written by ``save_pretrained`` (or ``alignkit align``), or one pushed
        with ``push_to_hub``, by its hub id (``org/name``, optionally at ``revision``: a branch,
        tag or commit). Hub models go through huggingface_hub's cache, so ``HF_HUB_CACHE`` and
        ``HF_HUB_OFFLINE=1`` apply as for any hub model. ``engine`` runs the frozen encoders
        (``alignkit.engines``; auto = ONNX Runtime on CPU where they export). A folder whose training
        run has not finished is refused (``model/run_state.py``) unless ``allow_unfinished``, which
        only the trainer itself uses, to read back its best model mid-run."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from alignkit.devices import resolve_device

        path = resolve_model_path(path_or_hub_id, revision, cache_dir)
        if not (path / CONFIG).exists() or not (path / WEIGHTS).exists():
            raise ModelLoadError(f"{path} is not an aligned model folder (needs {CONFIG} and {WEIGHTS}); train one with `alignkit align`")
        if not allow_unfinished:
            require_finished(path)
        try:
            info = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ModelLoadError(f"{path / CONFIG} is damaged: {e}") from None
        if info.get("format") != FORMAT:
            raise ModelLoadError(f"{path / CONFIG}: unknown model format {info.get('format')!r} (expected {FORMAT})")
        try:
            model = cls(info)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:  # an edited or hand-written config
            raise ModelLoadError(f"{path / CONFIG} does not describe a model alignkit can build ({type(e).__name__}: {e})") from None
        try:
            state = load_file(str(path / WEIGHTS))
        except (SafetensorError, OSError) as e:
            raise ModelLoadError(f"{path / WEIGHTS} is damaged or truncated ({e}); retrain or restore it") from None
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        wrong = [f"{k} {tuple(v.shape)} (config.json implies {shapes[k]})" for k, v in state.items() if k in shapes and tuple(v.shape) != shapes[k]]
        if wrong:
            raise ModelLoadError(f"{path / WEIGHTS} does not fit {CONFIG} (was a dim edited?): {'; '.join(wrong[:3])}")
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ModelLoadError(f"{path / WEIGHTS} does not fit {CONFIG}: missing {missing[:3]}, unexpected {unexpected[:3]}")
        model.engine = engine_option(engine, "AlignedModel.from_pretrained")
        return model.to(resolve_device(device)).eval()

    def push_to_hub(self, repo_id: str, token: str | None = None, private: bool = True) -> str:
        """Upload the folder to the Hugging Face Hub (needs huggingface_hub and network access)."""
        return upload_model(self.save_pretrained, repo_id, token, private)


def _head(info: dict[str, Any], side: str) -> Head:
    enc = info[SIDES[side]]
    members = int(info.get("members", 1))
    return build_head(HeadConfig(**info[f"{side}_head"]), int(enc["dim"]), int(info["shared_dim"]) // members, enc.get("token_dim"), members)


def _tensor(x: Any, device: torch.device) -> torch.Tensor | None:
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.asarray(x, dtype=np.float32))
    x = torch.as_tensor(x, dtype=torch.float32, device=device)
    return x.clone() if x.is_inference() else x  # encoder outputs come from inference mode


def _describe(ref: Any) -> str:
    return str(ref) if isinstance(ref, (str, Path)) else type(ref).__name__
