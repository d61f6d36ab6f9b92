"""The trained artefact: ``AlignedModel`` (two frozen encoders plus their heads, saved as a
folder), its heads, its caption memory, model folders on the Hugging Face Hub, and its
open_clip-shaped view. Nothing here trains."""
