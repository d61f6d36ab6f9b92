"""Whole alignment jobs built on the loop: from encoder and data specs to a trained model
(``from_specs.py``, what ``alignkit align`` runs) and recipe selection on folds of the training
data (``folds.py``, ``recipe_selection.py``)."""
