"""Pair ranking: embed the probe once per encoder, score every vision x text pair, calibrate, cache.

    from alignkit.rank import RankConfig, embed_probe, align_rows, score_all, ranking
    vision = embed_probe(["efficientnet-lite0"], "image", "builtin:emoji?split=probe", RankConfig(), open_source)

``scoring`` does the work (encoders, the features cache, the score cache); ``table`` turns
scored rows into a ranking. The metrics themselves are pure functions in ``alignkit.similarity``;
the HTML page is ``alignkit.rank.page``.
"""

from alignkit.rank.scoring import RankConfig, align_rows, embed_probe, resolve_zoo, score_all
from alignkit.rank.table import best_layers, pair_json, pair_notes, ranking

__all__ = ["RankConfig", "align_rows", "best_layers", "embed_probe", "pair_json", "pair_notes", "ranking", "resolve_zoo", "score_all"]
