"""The package version, in the bottom layer so every layer (the report stamp, the CLI) can name it."""

__version__ = "0.1.0"
