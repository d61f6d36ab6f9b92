"""Shared test helpers (not tests): fake encoders, synthetic data, tiny saved models."""
