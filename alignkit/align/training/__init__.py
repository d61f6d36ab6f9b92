"""The training loop (``loop.py``: ``train``, ``train_pairs``) and what it runs on: losses,
precision, process groups, checkpoints, the run folder and its resume checks, the refit rule,
row sampling, style shift, held-out validation and console output."""
