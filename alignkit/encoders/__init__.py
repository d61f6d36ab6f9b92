"""The encoder zoo: spec strings -> frozen encoders (see ``registry`` for the syntax)."""

from alignkit.encoders.base import Encoder, EncoderOptions, EncoderOutput
from alignkit.encoders.registry import create_encoder, get_entry, parse_spec, zoo_entries
from alignkit.encoders.slot import EncoderSlot

__all__ = ["Encoder", "EncoderOptions", "EncoderOutput", "EncoderSlot", "create_encoder", "get_entry", "parse_spec", "zoo_entries"]
