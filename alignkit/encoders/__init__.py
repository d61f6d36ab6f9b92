"""The encoder zoo: spec strings -> frozen encoders (see ``registry`` for the syntax)."""

from alignkit.encoders.base import Encoder, EncoderOptions, EncoderOutput
from alignkit.encoders.registry import create_encoder, get_entry, parse_spec, zoo_entries

__all__ = ["Encoder", "EncoderOptions", "EncoderOutput", "create_encoder", "get_entry", "parse_spec", "zoo_entries"]
