"""alignkit: align two frozen pretrained encoders (image, text) into a CLIP-like model."""

__version__ = "0.1.0"
