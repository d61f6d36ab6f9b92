"""Model folders on the Hugging Face Hub: find a folder (local, or a hub snapshot) and upload one.

Only the files of an aligned model are ever fetched (``config.json``, ``model.safetensors`` and, where
the folder has one, ``run.json``, so an unfinished run is refused from the hub as from disk);
offline, a snapshot already in the huggingface_hub cache is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from alignkit.errors import AlignkitError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
RUN = "run.json"  # whether the training run that wrote the folder finished (model/run_state.py)
PROVENANCE = "provenance.json"  # versions, commit, time and training-data digest of the save


class ModelLoadError(AlignkitError):
    """A model folder is missing, damaged, or does not fit the encoders or features given."""


def resolve_model_path(path_or_hub_id: str | Path, revision: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """A local model folder as given, else the hub snapshot of that id (downloaded into, or
    found offline in, the huggingface_hub cache) holding the model's two files."""
    path = Path(path_or_hub_id).expanduser()
    if path.is_dir():
        if revision is not None:
            raise ModelLoadError(f"{path} is a local folder; revision={revision!r} applies to hub ids only")
        return path
    if path.exists():
        raise ModelLoadError(f"{path} is a file, not an aligned model folder (give the folder holding {CONFIG} and {WEIGHTS})")
    repo_id = str(path_or_hub_id)
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:
        raise ModelLoadError(f"{repo_id} is not a folder, and loading hub ids needs huggingface_hub: pip install huggingface_hub") from None
    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=[CONFIG, WEIGHTS, RUN, PROVENANCE]))
    except HFValidationError:
        raise ModelLoadError(f"{repo_id} is not an aligned model folder (no such folder here) nor a hub id (org/name)") from None
    except RevisionNotFoundError:
        raise ModelLoadError(f"the hub model {repo_id} has no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise ModelLoadError(
            f"{repo_id} is not an aligned model folder here, and no hub model of that id exists "
            "(or it is private: log in with `hf auth login`)"
        ) from None
    except (LocalEntryNotFoundError, OSError) as e:
        at = f" at revision {revision!r}" if revision else ""
        raise ModelLoadError(
            f"{repo_id} is not an aligned model folder here, and the hub model{at} is neither in the hub cache nor "
            f"downloadable ({type(e).__name__}; HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '0')}). Give a model "
            "folder, or download it once with network access."
        ) from None


def upload_model(save: Callable[[str], object], repo_id: str, token: str | None = None, private: bool = True) -> str:
    """Write the model with ``save(folder)`` into a temporary folder and upload it as ``repo_id``."""
    import tempfile

    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise AlignkitError("push_to_hub needs the huggingface_hub package: pip install huggingface_hub") from None
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save(tmp)
        api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message="alignkit aligned model")
    return f"https://huggingface.co/{repo_id}"
