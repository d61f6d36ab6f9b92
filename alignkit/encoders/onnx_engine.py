"""The ONNX Runtime engine: the same frozen weights, several times faster on a CPU.

Any torch-backed encoder exports the same way, because the exported graph is the encoder's own
``forward`` (or ``pooled_layers``) traced on a collated probe batch: preprocessing, tokenising
and collating stay in Python exactly as for torch, so the two engines see identical inputs.
Tracing alignkit's own forward (not one library's exporter) covers every backend and several layers
at once. Once a session exists the torch weights are freed (rebuilt for token features or a new
layer export) and sessions have no memory arena: one copy of the weights (docs/engines.md).

An export is made once and cached under ``$ALIGNKIT_CACHE/onnx/<key>/``, the key hashing the
encoder's fingerprint, the layers, and the torch / onnx / onnxruntime versions. It is written to
a temporary folder, checked against torch on a second batch of another size (within float16
rounding, the precision stores keep), and renamed into place; its SHA-256 is recorded, and a
damaged or unreadable export is rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Callable, Sequence

import numpy as np
import torch

from alignkit.atomic import atomic_write_json, file_sha256
from alignkit.encoders.base import Encoder, EncoderOutput
from alignkit.engines import ONNX, TORCH, resolve_engine, say_once
from alignkit.errors import AlignkitError
from alignkit.memory import release_memory
from alignkit.paths import cache_root

EXPORT_FORMAT = 1
OPSET = 17
META = "export.json"
MODEL = "model.onnx"


class ExportError(AlignkitError):
    """An encoder could not be exported to ONNX, or its export disagrees with torch."""


def fp16_tolerance(reference: np.ndarray) -> float:
    """The largest difference float16 storage could itself introduce: half a unit in the last
    place (2^-11 relative) of the largest value, and never below that of 1.0."""
    return float(2.0**-11 * max(1.0, float(np.abs(reference).max(initial=0.0))))


def with_engine(encoder: Encoder, engine: str | None, rebuild: Callable[[], Encoder] | None = None) -> Encoder:
    """``encoder`` on the resolved engine: itself for torch, an ``OnnxEncoder`` for onnx (which frees
    the torch weights when it can ``rebuild`` them). Under ``auto``, one that fails to export stays on torch, said once."""
    model = getattr(encoder, "model", None)
    exportable = isinstance(model, torch.nn.Module) and any(True for _ in model.parameters())
    device_type = getattr(getattr(encoder, "device", None), "type", "cpu")
    chosen = resolve_engine(engine, device_type, encoder.options.dtype, exportable)
    if chosen == TORCH:
        return encoder
    try:
        return OnnxEncoder(encoder, rebuild)
    except ExportError as e:
        if (engine or "auto") == ONNX:
            raise
        say_once(f"export:{encoder.spec}", f"note: {encoder.spec} runs on torch: {e}")
        return encoder


class OnnxEncoder(Encoder):
    """A torch encoder's pooled features computed by ONNX Runtime. Identity, preprocessing and
    collating are the torch encoder's; the fingerprint adds the engine, so a store records which
    engine made it and is never resumed by the other one. Token features run on torch."""

    engine = ONNX

    def __init__(self, inner: Encoder, rebuild: Callable[[], Encoder] | None = None):
        self.inner, self.spec, self.modality, self.options = inner, inner.spec, inner.modality, inner.options
        self._rebuild, self._weights_dropped, key = rebuild, False, (inner.options.layer,)
        if rebuild is not None and _intact_meta(cache_root() / "onnx" / export_key(inner, key)):
            self._drop_torch_weights()  # before the session loads: never both copies at once
        self._graphs: dict[tuple, _Graph | None] = {key: _graph_for(inner, key)}
        if rebuild is not None and not self._weights_dropped:
            self._drop_torch_weights()

    def _drop_torch_weights(self) -> None:
        """Free the torch weights (the session holds its own); identity and width are kept, the
        module stays a shape-only ("meta") skeleton, tokenizers and transforms stay."""
        self.inner.encoder_fingerprint(), self.inner.dim  # computed (and kept) while the weights exist
        self._param_count = self.inner.num_params()
        if isinstance(getattr(self.inner, "model", None), torch.nn.Module):
            self.inner.model.to("meta")
            self._weights_dropped = True
            release_memory()

    def _torch(self) -> Encoder:
        """The torch encoder with its weights (built again if they were freed)."""
        if self._weights_dropped:
            fresh = self._rebuild()  # type: ignore[misc]
            if fresh.encoder_fingerprint() != self.inner.encoder_fingerprint():
                raise ExportError(f"{self.spec}: the rebuilt torch encoder has another fingerprint than its export")
            fresh.spec, self.inner, self._weights_dropped = self.spec, fresh, False
        return self.inner

    def __getattr__(self, name: str) -> Any:
        """Everything else is the torch encoder's own (the module and ``imagenet_logits`` with
        their weights), so code written for a backend keeps working under either engine."""
        if name in ("inner", "_weights_dropped"):  # not yet set (during unpickling or a failed __init__)
            raise AttributeError(name)
        return getattr(self._torch() if name in ("model", "imagenet_logits") else self.inner, name)

    # identity: the torch encoder's, plus the engine
    dim = property(lambda self: self.inner.dim)
    num_layers = property(lambda self: self.inner.num_layers)

    def num_params(self) -> int:
        return self._param_count if self._weights_dropped else self.inner.num_params()

    def weights_digest(self) -> str:
        return self.inner.weights_digest()

    def preprocessing(self) -> dict[str, Any]:
        return self.inner.preprocessing()

    def encoder_fingerprint(self) -> str:
        return self.inner.encoder_fingerprint()

    # data path
    def preprocess(self, item: Any) -> Any:
        return self.inner.preprocess(item)

    def collate(self, items: Sequence[Any]) -> Any:
        return self.inner.collate(items)

    def forward(self, batch: Any, tokens: bool = False) -> EncoderOutput:
        if tokens:  # token features are not exported; torch computes this whole batch
            return self._torch().forward(batch, tokens=True)
        return EncoderOutput(self._graphs[(self.options.layer,)].run(batch)[0])

    def pooled_layers(self, batch: Any, layers: Sequence[int | None]) -> list[torch.Tensor] | None:
        """Every asked layer from one ONNX pass (that graph exported on first use); None when the
        backend has no multi-layer pass or it does not export, so callers run layer by layer."""
        key = tuple(layers)
        if key not in self._graphs:
            try:
                self._graphs[key] = _graph_for(self._torch(), key)
            except ExportError as e:
                say_once(f"layers:{self.spec}:{key}", f"note: {self.spec}: layers {list(layers)} run one graph each ({e})")
                self._graphs[key] = None
        graph = self._graphs[key]
        return None if graph is None else graph.run(batch)


# ---- one exported graph ------------------------------------------------------------------------


class _Graph:
    """An ONNX Runtime session over one export, fed from a collated batch."""

    def __init__(self, path: Path, inputs: list[str]):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        opts.enable_cpu_mem_arena = False  # an arena keeps a batch's activations (1.4 GB: Lite2, 64 images)
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        release_memory()  # the parsed model's buffers (about half the weights again) go back to the OS
        wanted = {i.name for i in self.session.get_inputs()}  # the exporter drops inputs a model ignores
        self.inputs = [n for n in inputs if n in wanted]

    def run(self, batch: Any) -> list[torch.Tensor]:
        feed = {name: _numpy(t) for name, t in zip(self.inputs, _tensors(batch, self.inputs))}
        return [torch.from_numpy(np.ascontiguousarray(o, dtype=np.float32)) for o in self.session.run(None, feed)]


def _graph_for(encoder: Encoder, layers: tuple) -> _Graph:
    """The cached export for these layers, made (and checked) if missing or damaged."""
    folder = cache_root() / "onnx" / export_key(encoder, layers)
    meta = _intact_meta(folder)
    if meta is None:
        if folder.exists():
            say_once(f"rebuild:{folder}", f"note: rebuilding the damaged or stale ONNX export {folder}")
            shutil.rmtree(folder, ignore_errors=True)
        meta = _export(encoder, layers, folder)
    try:
        return _Graph(folder / MODEL, meta["inputs"])
    except Exception as e:  # noqa: BLE001 (an unreadable file is rebuilt once)
        shutil.rmtree(folder, ignore_errors=True)
        raise ExportError(f"ONNX Runtime could not load its export ({type(e).__name__}: {e})") from None


def export_key(encoder: Encoder, layers: tuple) -> str:
    """What an export depends on: the encoder's features' identity, the layers, the toolchain."""
    import onnx
    import onnxruntime

    ident = {"format": EXPORT_FORMAT, "fingerprint": encoder.encoder_fingerprint(), "layers": list(layers), "opset": OPSET,
             "torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]


def _intact_meta(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / META).read_text())
        if meta.get("format") == EXPORT_FORMAT and file_sha256(folder / MODEL) == meta["sha256"]:
            return meta
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _export(encoder: Encoder, layers: tuple, folder: Path) -> dict[str, Any]:
    """Trace, write to a temporary folder, check against torch, rename into place."""
    probe = _probe_items(encoder)
    example = encoder.collate([encoder.preprocess(x) for x in probe[:2]])
    inputs = _input_names(example)
    multi = layers != (encoder.options.layer,)
    module = _Traced(encoder, example, inputs, list(layers) if multi else None)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        axes = {n: {0: "batch"} if encoder.modality == "image" else {0: "batch", 1: "seq"} for n in inputs}
        outputs = [f"pooled{i}" for i in range(len(layers))]
        axes.update({o: {0: "batch"} for o in outputs})
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(module, tuple(_tensors(example, inputs)), str(work / MODEL), input_names=inputs,
                                  output_names=outputs, dynamic_axes=axes, opset_version=OPSET, dynamo=False)
            except Exception as e:  # noqa: BLE001 (any tracing failure means: not exportable)
                raise ExportError(f"it does not export to ONNX ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
        graph = _Graph(work / MODEL, inputs)
        check = encoder.collate([encoder.preprocess(x) for x in probe])  # another batch size and length
        got = graph.run(check)
        with torch.inference_mode():
            want = encoder.pooled_layers(check, list(layers)) if multi else [encoder.forward(check).pooled]
        diffs = [float((g - w).abs().max()) for g, w in zip(got, want)]
        for d, w in zip(diffs, want):
            if not d <= fp16_tolerance(w.numpy()):
                raise ExportError(f"its ONNX export differs from torch by {d:.3g}, beyond float16 rounding")
        meta = {"format": EXPORT_FORMAT, "spec": encoder.spec, "layers": list(layers), "inputs": inputs,
                "sha256": file_sha256(work / MODEL), "max_abs_diff_vs_torch": max(diffs)}
        atomic_write_json(work / META, meta)
        try:
            work.rename(folder)
        except OSError:
            if _intact_meta(folder) is None:  # not a finished export of another process: a real failure
                raise
        return _intact_meta(folder) or meta
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Traced(torch.nn.Module):
    """The encoder's own pooled forward as a module of positional tensors (what tracing needs)."""

    def __init__(self, encoder: Encoder, example: Any, inputs: list[str], layers: list | None):
        super().__init__()
        self.encoder, self.example, self.inputs, self.layers = encoder, example, inputs, layers
        self.model = encoder.model  # registered, so the exporter sees the weights as parameters
        self.eval()  # the exporter restores the wrapper's mode onto the frozen model afterwards

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch = tensors[0] if isinstance(self.example, torch.Tensor) else {**self.example, **dict(zip(self.inputs, tensors))}
        if self.layers is None:
            return (self.encoder.forward(batch).pooled,)
        pooled = self.encoder.pooled_layers(batch, self.layers)
        if pooled is None:
            raise ExportError("this backend has no multi-layer pass")
        return tuple(pooled)


def _probe_items(encoder: Encoder) -> list[Any]:
    """Three different valid items (texts of different lengths, so padding is exercised)."""
    if encoder.modality == "image":
        from PIL import Image

        return [Image.new("RGB", (64 + 16 * i, 64), (40 * i, 120, 200 - 50 * i)) for i in range(3)]
    return ["a photo of a cat", "a small red bicycle leaning on a wall beside an open door", "dog"]


def _input_names(batch: Any) -> list[str]:
    if isinstance(batch, torch.Tensor):
        return ["pixels"]
    if isinstance(batch, Mapping):  # tokenisers give a BatchEncoding, a Mapping
        return [k for k, v in batch.items() if isinstance(v, torch.Tensor)]
    raise ExportError(f"its collated batch is a {type(batch).__name__}, not tensors")


def _tensors(batch: Any, names: list[str]) -> list[torch.Tensor]:
    return [batch] if isinstance(batch, torch.Tensor) else [batch[n] for n in names]


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
