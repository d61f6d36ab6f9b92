"""Encoder backends; importing this package registers every one of them with the registry.

Each module keeps its heavy imports (transformers, timm, sentence-transformers) inside the
functions that load a model, so listing the zoo stays fast.
"""

from alignkit.encoders.backends import controls, hf, offline, st, timm_backend  # noqa: F401
