"""Encoder backends (hf, st, timm) and the offline models and controls.

Nothing here registers itself: ``alignkit.encoders.registry`` names each backend's factory
and each module's ``ENTRIES`` as lazy ``"module:object"`` references. Heavy imports
(transformers, timm, sentence-transformers) stay inside the functions that load a model,
so listing the zoo stays fast.
"""
