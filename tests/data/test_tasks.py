"""Classification tasks from task files and class folders, templates as data, retrieval over any source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignkit.data import ClassificationTask, RetrievalTask, open_task
from alignkit.data.images import decode_image
from alignkit.errors import AlignkitError
from tests.helpers.images import index_of_image, png_bytes


def _images(root: Path, names: dict[str, int]) -> None:
    for rel, i in names.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(png_bytes(i))


def test_task_file_labels_by_index_or_name(tmp_path: Path) -> None:
    _images(tmp_path, {"a.png": 0, "b.png": 1, "c.png": 2})
    task_file = {
        "name": "toy",
        "classnames": ["cat", "dog"],
        "templates": ["a photo of a {c}.", "a {c}."],
        "items": [
            {"image": "a.png", "label": 0},
            {"image": "b.png", "label": "dog"},
            {"image": "gone.png", "label": 1},
            {"image": "c.png"},
            {"image": "a.png", "label": 1},
        ],
    }
    (tmp_path / "toy.json").write_text(json.dumps(task_file))
    task = open_task(str(tmp_path / "toy.json"))
    assert isinstance(task, ClassificationTask) and task.name == "toy"
    assert [(it.key, it.label) for it in task.items] == [("a.png", 0), ("b.png", 1)]
    assert task.prompts() == [["a photo of a cat.", "a cat."], ["a photo of a dog.", "a dog."]]
    assert dict(task.prompt_items())["class1#0"] == "a photo of a dog."
    assert index_of_image(decode_image(task.items[1].image)) == 1
    reasons = {s.key: s.reason for s in task.skipped}
    assert reasons["gone.png"].startswith("missing file") and "label" in reasons["c.png"]
    assert reasons["a.png"].startswith("duplicate key")


def test_per_class_prompts_and_user_templates(tmp_path: Path) -> None:
    _images(tmp_path, {"a.png": 0})
    (tmp_path / "cupl.json").write_text(json.dumps({"cat": ["a small furry cat"], "dog": ["a loyal dog", "a puppy"]}))
    (tmp_path / "t.json").write_text(json.dumps({"classnames": ["cat", "dog"], "items": [{"image": "a.png", "label": 0}]}))
    task = open_task(f"task:{tmp_path}/t.json?templates={tmp_path}/cupl.json")
    assert task.prompts() == [["a small furry cat"], ["a loyal dog", "a puppy"]]
    (tmp_path / "bad.json").write_text(json.dumps(["no placeholder"]))
    with pytest.raises(AlignkitError, match=r"\{c\}"):
        open_task(f"task:{tmp_path}/t.json?templates={tmp_path}/bad.json")
    (tmp_path / "short.json").write_text(json.dumps({"cat": ["a cat"]}))
    with pytest.raises(AlignkitError, match="none for"):
        open_task(f"task:{tmp_path}/t.json?templates={tmp_path}/short.json")


def test_folder_task(tmp_path: Path) -> None:
    _images(tmp_path, {"golden_retriever/1.png": 0, "golden_retriever/2.png": 1, "tabby-cat/x.png": 2, "tabby-cat/notes.txt": 3})
    task = open_task(f"folder-task:{tmp_path}")
    assert task.classnames == ["golden retriever", "tabby cat"]
    assert [(it.key, it.label) for it in task.items] == [("golden_retriever/1.png", 0), ("golden_retriever/2.png", 0), ("tabby-cat/x.png", 1)]
    assert task.prompts()[1][0] == "a photo of a tabby cat."  # the bundled generic templates
    assert task.label_of()["tabby-cat/x.png"] == 1
    (tmp_path / "names.json").write_text(json.dumps(["dog", "cat"]))
    assert open_task(f"folder-task:{tmp_path}?classnames={tmp_path}/names.json").classnames == ["dog", "cat"]


def test_retrieval_over_any_source_and_errors(tmp_path: Path) -> None:
    _images(tmp_path, {"img/0.png": 0, "img/1.png": 1})
    (tmp_path / "pairs.csv").write_text("path,text\nimg/0.png,item 0\nimg/1.png,\n")
    task = open_task(f"retrieval:csv:{tmp_path}/pairs.csv?image=path&caption=text")
    assert isinstance(task, RetrievalTask)
    assert [p.key for p in task.pairs] == ["img/0.png"] and dict(task.caption_items()) == {"img/0.png#0": "item 0"}
    assert task.skipped and task.describe()["images"] == 1
    with pytest.raises(AlignkitError, match="names no task"):
        open_task(str(tmp_path / "pairs.csv"))
    with pytest.raises(AlignkitError, match="no built-in task"):
        open_task("builtin:imagenet")
