"""``st:<hub id or local folder>``: sentence-transformers models as frozen text encoders.

The pooled feature is the model's own sentence embedding (normalised only if the model's own
modules normalise). ``layer=k`` runs the underlying transformer with all hidden states and
mean-pools layer k over real tokens (0 = embeddings, negative from the end); token features
are the chosen layer's hidden states with the attention mask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from alignkit.encoders.backends.common import TorchEncoder, check_extra, check_pooling, cpu_float, resolve_layer
from alignkit.encoders.base import EncoderOptions, EncoderOutput, pool_tokens
from alignkit.errors import AlignkitError


class STEncoder(TorchEncoder):
    """A SentenceTransformer; collate tokenises, forward runs every module (or one layer)."""

    modality = "text"

    def __init__(self, model: Any, options: EncoderOptions, spec: str):
        check_extra(options, (), spec)
        check_pooling(options, ("mean",), spec)
        super().__init__(model, options, spec)
        self.transformer = getattr(model[0], "auto_model", None)
        self.layer = resolve_layer(options.layer, self.num_layers, spec)
        if self.layer is not None and options.pooling is None:
            options.pooling = "mean"  # a chosen layer is always mean-pooled

    @property
    def num_layers(self) -> int:
        if self.transformer is None:
            return 1
        return int(self.transformer.config.num_hidden_layers) + 1

    def preprocessing(self) -> dict[str, Any]:
        tok = getattr(self.model, "tokenizer", None)
        first = self.model[0]
        return {
            "tokenizer": type(tok).__name__,
            "vocab_size": len(tok) if tok is not None else None,
            "max_length": self.model.max_seq_length,
            "lowercase": bool(getattr(first, "do_lower_case", False)),
            "modules": [type(m).__name__ for m in self.model],
        }

    def preprocess(self, item: str) -> str:
        return item

    def collate(self, items: Sequence[str]) -> dict[str, Any]:
        return self.model.preprocess(list(items))

    def pooled_layers(self, batch: dict[str, Any], layers: Sequence[int | None]) -> list[torch.Tensor] | None:
        """Every inner layer from one transformer pass (with all hidden states); the final
        sentence embedding, if asked for, from the model's own modules."""
        if self.transformer is None:
            return None
        batch = self.to_device(batch)
        mask = batch["attention_mask"].bool()
        out: dict[int | None, torch.Tensor] = {}
        inner = [resolve_layer(l, self.num_layers, self.spec) for l in layers if l is not None]
        with self.autocast():
            if inner:
                inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
                hidden = self.transformer(**inputs, output_hidden_states=True).hidden_states
                out.update({l: pool_tokens(hidden[l].float(), mask, "mean", has_cls=False) for l in inner})
            if None in layers:
                out[None] = self.model(batch)["sentence_embedding"]
        return [cpu_float(out[None if l is None else resolve_layer(l, self.num_layers, self.spec)]) for l in layers]

    def forward(self, batch: dict[str, Any], tokens: bool = False) -> EncoderOutput:
        batch = self.to_device(batch)
        mask = batch["attention_mask"].bool()
        with self.autocast():
            if self.layer is None:
                out = self.model(batch)
                pooled, hidden = out["sentence_embedding"], out.get("token_embeddings")
            else:
                inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
                hidden = self.transformer(**inputs, output_hidden_states=True).hidden_states[self.layer]
                pooled = pool_tokens(hidden.float(), mask, "mean", has_cls=False)
        if not tokens:
            return EncoderOutput(cpu_float(pooled))
        if hidden is None:
            raise AlignkitError(f"{self.spec}: this model gives no token embeddings")
        return EncoderOutput(cpu_float(pooled), cpu_float(hidden), mask.cpu())


def load_st(path_or_id: str, options: EncoderOptions, spec: str) -> STEncoder:
    """Load a sentence-transformers model (local folders never touch the network)."""
    from sentence_transformers import SentenceTransformer

    local = Path(path_or_id).expanduser()
    try:
        model = SentenceTransformer(
            str(local) if local.is_dir() else path_or_id,
            device="cpu",
            trust_remote_code=False,
            local_files_only=local.is_dir(),
        )
    except (OSError, ValueError, KeyError) as e:
        raise AlignkitError(
            f"could not load {spec}: {e}. Check the hub id or local folder; without network, "
            "use a downloaded folder path or an offline short name from `alignkit zoo`."
        ) from None
    return STEncoder(model, options, spec)


def build_st(name: str, options: EncoderOptions) -> STEncoder:
    """The ``st:`` backend factory."""
    return load_st(name, options, f"st:{name}")
