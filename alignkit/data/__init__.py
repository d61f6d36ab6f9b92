"""Image-caption sources, classification and retrieval tasks, and the built-in offline sets.

``open_source(spec)`` reads any pair source named by a ``--data`` spec (see ``sources``);
``open_task(spec)`` any evaluation task (see ``tasks``); ``builtin`` lists and fetches the
offline sets.
"""

from alignkit.data.base import Pair, PairSource, Skip, caption_items, image_items, pair_key_of, summarize_skips
from alignkit.data.sources import open_source, parse_data_spec
from alignkit.data.tasks import ClassificationTask, LabeledItem, RetrievalTask, open_task

__all__ = [
    "ClassificationTask",
    "LabeledItem",
    "Pair",
    "PairSource",
    "RetrievalTask",
    "Skip",
    "caption_items",
    "image_items",
    "open_source",
    "open_task",
    "pair_key_of",
    "parse_data_spec",
    "summarize_skips",
]
