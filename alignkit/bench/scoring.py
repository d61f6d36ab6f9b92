"""The one number a verdict is about, per task kind; scoring itself is the evaluation module's
(``alignkit.evaluate.cached.score``), so the bench and ``alignkit eval`` meet the same numbers."""

from __future__ import annotations

from alignkit.evaluate.cached import score

__all__ = ["HEADLINE", "score"]

HEADLINE = {"classification": "top1", "retrieval": "i2t_R@1"}
