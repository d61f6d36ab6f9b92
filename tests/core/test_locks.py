"""One writer per folder: a folder another process writes is refused at once, naming the holder;
the lock dies with its holder, is re-entrant in one process, and every writer takes it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alignkit.locks import HOLDER, FolderBusyError, folder_lock, holder
from tests.helpers.other_writer import held_by_another_process


def test_a_folder_held_by_another_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    with held_by_another_process(folder) as pid:
        assert holder(folder)["pid"] == pid
        with pytest.raises(FolderBusyError, match=f"pid {pid} on .*--other-writer.*wait for it to finish") as e:
            with folder_lock(folder, "run folder"):
                pass
        assert "\n" not in str(e.value) and "the run folder" in str(e.value)
    with folder_lock(folder, "run folder"):  # the holder was killed: the kernel released its lock
        assert holder(folder)["command"]
    assert not (folder / HOLDER).exists()


def test_the_lock_is_re_entrant_within_one_process(tmp_path: Path) -> None:
    with folder_lock(tmp_path / "x"):
        with folder_lock(tmp_path / "x"):
            pass
        assert (tmp_path / "x" / HOLDER).exists()  # still held by the outer block
    assert not (tmp_path / "x" / HOLDER).exists()


def test_embed_into_a_store_another_process_writes_is_refused(tmp_path: Path) -> None:
    from alignkit.features import embed_items
    from tests.helpers.fakes import FakeImageEncoder, solid_png

    solid_png(tmp_path / "a.png", (255, 0, 0))
    store = tmp_path / "store"
    with held_by_another_process(store) as pid:
        with pytest.raises(FolderBusyError, match=f"feature store .*pid {pid}"):
            embed_items(FakeImageEncoder(), [("a", str(tmp_path / "a.png"))], store, progress=False, num_workers=0)
    assert not (store / "manifest.json").exists()  # nothing was written beside the other writer


def test_training_into_a_run_folder_another_process_writes_is_refused(tmp_path: Path) -> None:
    from alignkit.align import AlignConfig
    from alignkit.align.training.loop import train_pairs
    from alignkit.features.pairs import CachedPairs
    from tests.helpers.synthetic import latent_pairs

    d = latent_pairs(40)
    data = CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"])
    with held_by_another_process(tmp_path / "run") as pid:
        with pytest.raises(FolderBusyError, match=f"run folder .*pid {pid}"):
            train_pairs(AlignConfig(embed_dim=8, epochs=1), data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "recipe.json").exists()


def test_writing_eval_outputs_into_a_folder_another_process_writes_is_refused(tmp_path: Path) -> None:
    from alignkit.evaluate.page import write_eval_outputs
    from alignkit.evaluate.score_tasks import retrieval_result

    result = retrieval_result(np.eye(3), np.eye(3), [0, 1, 2], "t", "m")
    with held_by_another_process(tmp_path / "eval") as pid:
        with pytest.raises(FolderBusyError, match=f"output folder .*pid {pid}"):
            write_eval_outputs([result], tmp_path / "eval", "title")
    assert not (tmp_path / "eval" / "results.jsonl").exists()
    write_eval_outputs([result], tmp_path / "eval", "title")
    assert json.loads((tmp_path / "eval" / "results.jsonl").read_text().splitlines()[0])["task"] == "t"
