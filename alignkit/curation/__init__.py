"""Concept-balanced curation of a pool of image-caption pairs, with a leakage check."""

from alignkit.curation.concepts import Concepts, from_names, from_tasks, image_prototypes
from alignkit.curation.curate import CurateConfig, Selection, curate, write_subset

__all__ = ["Concepts", "CurateConfig", "Selection", "curate", "from_names", "from_tasks", "image_prototypes", "write_subset"]
