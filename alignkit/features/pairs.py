"""Training pairs: image rows joined with their caption rows, from cached stores or live encoders.

Image row ``i`` has key ``image_keys[i]``; text row ``j`` belongs to image row ``text_owner[j]``.
The trainer only ever asks for feature batches by row, so the cached path (features read
from a store once) and the ``--online`` path (frozen encoders run on every batch) are
interchangeable. Row groups live in ``groups``, row checks and caption hashes in
``pair_rows``, where the pooled features are held in ``placement``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from alignkit.features.placement import MappedTable, TensorRows, scan
from alignkit.features.pair_rows import PairsError, finite_rows, finite_tokens, join_captions, refuse_non_finite, row_hashes
from alignkit.features.groups import groups_from_captions, groups_from_concepts
from alignkit.errors import BadItemError
from alignkit.options import ENCODE_BATCH_SIZE


@dataclass
class FeatureBatch:
    pooled: torch.Tensor
    tokens: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "FeatureBatch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return FeatureBatch(move(self.pooled), move(self.tokens), move(self.mask))


class PairedData(ABC):
    """Images and captions indexed by row, with the widths the heads must accept."""

    image_keys: list[str]
    text_owner: np.ndarray
    text_ids: np.ndarray  # equal for identical captions
    concepts: list[str | None] | None = None  # per image row, where the source names concepts
    image_dim: int
    text_dim: int
    image_token_dim: int | None = None
    text_token_dim: int | None = None
    store_digests: dict[str, str] | None = None  # content digest of the image and text feature stores, when read from stores

    def data_digest(self) -> dict[str, Any]:
        """What the pairs are, for provenance: row counts, a digest of the row keys and, where the
        features came from stores, those stores' content digests."""
        from alignkit.features.store import keys_digest

        return {"images": len(self.image_keys), "captions": len(self.text_owner),
                "keys_digest": keys_digest(list(self.image_keys) + list(getattr(self, "text_keys", []))),
                "feature_stores": self.store_digests}

    @abstractmethod
    def image_batch(self, rows: np.ndarray) -> FeatureBatch:
        """Features of image rows ``rows`` (CPU, float32)."""

    @abstractmethod
    def text_batch(self, rows: np.ndarray) -> FeatureBatch:
        """Features of text rows ``rows`` (CPU, float32)."""

    def image_groups(self) -> np.ndarray:
        """A group id per image row. Groups are the unit of the validation split, positives for
        each other in the loss, and a retrieved image or caption of the right group counts as a
        hit. Where the source names concepts (``concepts``), images of one concept are one group
        and nothing else is (identical captions would merge cat with cat face); rows without a
        concept are grouped by identical captions among themselves."""
        if self.concepts is not None and any(c is not None for c in self.concepts):
            return groups_from_concepts(self.concepts, self.text_owner, self.text_ids)
        return groups_from_captions(self.text_owner, self.text_ids, len(self.image_keys))

    def captions_of(self) -> list[np.ndarray]:
        """For each image row, the text rows that caption it."""
        order = np.argsort(self.text_owner, kind="stable")
        bounds = np.searchsorted(self.text_owner[order], np.arange(len(self.image_keys) + 1))
        return [order[bounds[i] : bounds[i + 1]] for i in range(len(self.image_keys))]


class CachedPairs(PairedData):
    """Pairs whose features are already in memory (loaded from feature stores or given as arrays)."""

    def __init__(
        self,
        image_keys: Sequence[str],
        image: np.ndarray,
        text_keys: Sequence[str],
        text: np.ndarray,
        *,
        image_tokens: tuple[np.ndarray, np.ndarray] | None = None,
        text_tokens: tuple[np.ndarray, np.ndarray] | None = None,
        concepts: Sequence[str | None] | None = None,
    ):
        """``concepts``: the concept id of each of ``image_keys`` (None where unknown), see `image_groups`."""
        if concepts is not None and len(concepts) != len(image_keys):
            raise PairsError(f"{len(concepts)} concept ids for {len(image_keys)} image keys; give one per image key")
        image = finite_rows(np.asarray(image, dtype=np.float32), list(image_keys), "image")
        text = finite_rows(np.asarray(text, dtype=np.float32), list(text_keys), "text")
        img_rows, txt_rows, owner = join_captions(list(image_keys), list(text_keys))
        self.image_keys = [image_keys[i] for i in img_rows]
        self.text_keys = [text_keys[j] for j in txt_rows]
        self.text_owner = owner
        self.concepts = None if concepts is None else [concepts[i] for i in img_rows]
        # identical caption strings give identical (float16-stored) features
        self.text_ids = np.unique(np.ascontiguousarray(text[txt_rows]).view(np.dtype((np.void, text.shape[1] * 4))), return_inverse=True)[1].reshape(-1)
        self._image: Any = TensorRows(torch.from_numpy(np.ascontiguousarray(image[img_rows])))
        self._text: Any = TensorRows(torch.from_numpy(np.ascontiguousarray(text[txt_rows])))
        self._set_tokens(image_tokens, text_tokens, img_rows, txt_rows)

    def _set_tokens(self, image_tokens: Any, text_tokens: Any, img_rows: np.ndarray, txt_rows: np.ndarray) -> None:
        self.image_dim, self.text_dim = self._image.dim, self._text.dim
        self._image_tok = _select_tokens(image_tokens, img_rows)
        self._text_tok = _select_tokens(text_tokens, txt_rows)
        self.image_token_dim = None if self._image_tok is None else self._image_tok[0].shape[-1]
        self.text_token_dim = None if self._text_tok is None else self._text_tok[0].shape[-1]

    @classmethod
    def from_stores(
        cls, image_store: Any, text_store: Any, *, image_tokens: bool = False, text_tokens: bool = False,
        concept_of: Callable[[str], str | None] | None = None, features_in: str = "ram", device: torch.device | str = "cpu",
    ) -> "CachedPairs":
        """Join an image store (keyed by pair key) with a text store (keyed ``<pair key>#<i>``);
        ``concept_of`` (a source's `PairSource.concept_of`) names each image's concept.

        ``features_in`` says where the pooled features live (see ``alignkit.features.placement``):
        ``ram`` loads them, ``mmap`` reads batches from the shards, ``device`` holds them as
        float16 on ``device``. Token features, when asked for, are loaded into RAM."""
        from alignkit.features.store import FeatureStore

        stores = [s if isinstance(s, FeatureStore) else FeatureStore(s) for s in (image_store, text_store)]
        for store in stores:
            if not store.complete:
                raise PairsError(f"feature store {store.path} is unfinished; rerun `alignkit embed` to complete it")
        from alignkit.features.store import store_digest

        digests = {side: store_digest(s.manifest) for side, s in zip(("image", "text"), stores)}
        if features_in != "ram":
            pairs = cls._mapped(stores, features_in, torch.device(device), image_tokens, text_tokens, concept_of)
        else:
            (ik, iv), (tk, tv) = stores[0].load(), stores[1].load()
            itok = _store_tokens(stores[0], ik, "image") if image_tokens else None
            ttok = _store_tokens(stores[1], tk, "text") if text_tokens else None
            concepts = [concept_of(k) for k in ik] if concept_of is not None else None
            pairs = cls(ik, iv, tk, tv, image_tokens=itok, text_tokens=ttok, concepts=concepts)
        pairs.store_digests = digests
        return pairs

    @classmethod
    def _mapped(cls, stores: list[Any], features_in: str, device: torch.device, image_tokens: bool, text_tokens: bool,
                concept_of: Callable[[str], str | None] | None) -> "CachedPairs":
        """The same pairs as the in-RAM path, with features read from memory-mapped shards (or
        copied from them onto ``device``) in bounded chunks: nothing holds a whole float32 table."""
        from alignkit.features.mapped_rows import MappedRows

        ik, tk = stores[0].keys(), stores[1].keys()
        img_rows, txt_rows, owner = join_captions(ik, tk)
        self = cls.__new__(cls)
        self.image_keys = [ik[i] for i in img_rows]
        self.text_keys = [tk[j] for j in txt_rows]
        self.text_owner = owner
        self.concepts = None if concept_of is None else [concept_of(k) for k in self.image_keys]
        tables = []
        for side, store, rows, keys in (("image", stores[0], img_rows, self.image_keys), ("text", stores[1], txt_rows, self.text_keys)):
            mapped = MappedTable(MappedRows(store, rows))
            table = torch.empty((len(rows), mapped.dim), dtype=torch.float16, device=device) if features_in == "device" else None
            hashes = []
            for start, x in scan(mapped.take, np.arange(len(mapped)), mapped.dim):
                refuse_non_finite(x.numpy(), keys, start, side)
                if side == "text":
                    hashes.append(row_hashes(x.numpy()))
                if table is not None:
                    table[start : start + len(x)] = x.to(device).half()
            if side == "text":
                self.text_ids = np.unique(np.concatenate(hashes), return_inverse=True)[1].reshape(-1)
            tables.append(mapped if table is None else TensorRows(table))
        self._image, self._text = tables
        itok = _store_tokens(stores[0], ik, "image") if image_tokens else None
        ttok = _store_tokens(stores[1], tk, "text") if text_tokens else None
        self._set_tokens(itok, ttok, img_rows, txt_rows)
        return self

    def image_batch(self, rows: np.ndarray) -> FeatureBatch:
        return _batch(self._image, self._image_tok, rows)

    def text_batch(self, rows: np.ndarray) -> FeatureBatch:
        return _batch(self._text, self._text_tok, rows)

    def pooled_features(self, side: str) -> torch.Tensor:
        """Every pooled row of one side as float32 (loads a memory-mapped table whole)."""
        return (self._image if side == "image" else self._text).all()

    def pooled_rows(self, side: str) -> Any:
        """One side's pooled table (``take(rows)``, ``dim``) without materialising it."""
        return self._image if side == "image" else self._text

    def subset(self, rows: np.ndarray) -> "CachedPairs":
        """The pairs of image ``rows`` with all their captions, as a new in-memory data set."""
        keep = np.zeros(len(self.image_keys), dtype=bool)
        keep[rows] = True
        rows = np.flatnonzero(keep)
        text_rows = np.flatnonzero(keep[self.text_owner])
        image, text = self.pooled_features("image").numpy(), self.pooled_features("text").numpy()
        concepts = None if self.concepts is None else [self.concepts[i] for i in rows]
        out = CachedPairs([self.image_keys[i] for i in rows], image[rows], [self.text_keys[j] for j in text_rows], text[text_rows],
                          concepts=concepts)
        out.store_digests = self.store_digests  # a subset of the same stores (its keys digest says which rows)
        return out


class OnlinePairs(PairedData):
    """Pairs whose features are computed by the frozen encoders on every request."""

    def __init__(self, pairs: Sequence[Any], image_encoder: Any, text_encoder: Any, *, image_tokens: bool = False, text_tokens: bool = False, batch_size: int = ENCODE_BATCH_SIZE):
        from alignkit.data.images import decode_image
        from alignkit.data.checks import clean_caption

        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.image_keys, self._images, self._texts, self.skipped = [], [], [], []
        owner: list[int] = []
        concepts: list[str | None] = []
        for pair in pairs:
            try:
                decode_image(pair.image)  # refuse undecodable images now, not mid-epoch
            except BadItemError as e:
                self.skipped.append({"key": pair.key, "reason": str(e)})
                continue
            captions = []
            for c in pair.captions:
                try:
                    captions.append(clean_caption(c))
                except BadItemError as e:
                    self.skipped.append({"key": pair.key, "reason": str(e)})
            if not captions:
                continue
            owner.extend([len(self.image_keys)] * len(captions))
            self.image_keys.append(pair.key)
            concepts.append(pair.meta.get("concept") if pair.meta else None)
            self._images.append(pair.image)
            self._texts.extend(captions)
        if not self.image_keys:
            raise PairsError("no usable image-caption pairs (every image failed to decode or had no caption)")
        self.text_owner = np.asarray(owner, dtype=np.int64)
        self.concepts = concepts if any(c is not None for c in concepts) else None
        self.text_ids = np.unique(np.array(self._texts, dtype=object), return_inverse=True)[1].reshape(-1)
        self.image_dim, self.text_dim = image_encoder.dim, text_encoder.dim
        self._tokens = {"image": image_tokens, "text": text_tokens}
        self.batch_size = batch_size
        self.image_token_dim = self._probe_token_dim(image_encoder, self._images[0], "image")
        self.text_token_dim = self._probe_token_dim(text_encoder, self._texts[0], "text")

    def _probe_token_dim(self, encoder: Any, item: Any, side: str) -> int | None:
        if not self._tokens[side]:
            return None
        return int(self._run(encoder, [item], side, tokens=True).tokens.shape[-1])

    def _run(self, encoder: Any, items: list[Any], side: str, tokens: bool) -> FeatureBatch:
        from alignkit.data.images import decode_image

        with torch.inference_mode():
            loaded = [decode_image(x) for x in items] if side == "image" else items
            out = encoder.encode(loaded, batch_size=self.batch_size, tokens=tokens)
        clone = lambda t: None if t is None else t.float().clone()  # noqa: E731  (leave inference mode)
        return FeatureBatch(clone(out.pooled), clone(out.tokens), None if out.mask is None else out.mask.clone())

    def image_batch(self, rows: np.ndarray) -> FeatureBatch:
        return self._run(self.image_encoder, [self._images[i] for i in rows], "image", self._tokens["image"])

    def text_batch(self, rows: np.ndarray) -> FeatureBatch:
        return self._run(self.text_encoder, [self._texts[j] for j in rows], "text", self._tokens["text"])


def _select_tokens(tokens: tuple[np.ndarray, np.ndarray] | None, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor] | None:
    if tokens is None:
        return None
    feats, mask = tokens
    return torch.from_numpy(np.ascontiguousarray(feats[rows], dtype=np.float32)), torch.from_numpy(np.ascontiguousarray(mask[rows]))


def _store_tokens(store: Any, pooled_keys: list[str], side: str) -> tuple[np.ndarray, np.ndarray]:
    keys, toks, mask = store.load_tokens()
    if keys != pooled_keys:
        raise PairsError(f"{side} store {store.path}: token rows do not match pooled rows; re-embed it with --tokens")
    return finite_tokens(toks, keys, side), mask


def _batch(pooled: Any, tokens: tuple[torch.Tensor, torch.Tensor] | None, rows: np.ndarray) -> FeatureBatch:
    if tokens is None:
        return FeatureBatch(pooled.take(rows))
    idx = torch.from_numpy(np.asarray(rows, dtype=np.int64))
    return FeatureBatch(pooled.take(rows), tokens[0][idx], tokens[1][idx])
