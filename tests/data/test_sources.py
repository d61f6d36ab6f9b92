"""Every source type on data the tests write, with bad items in the middle: the good pairs keep
their own captions (the image colour encodes the caption's index) and every skip has a reason."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from alignkit.data import open_source, summarize_skips
from alignkit.data.images import decode_image
from alignkit.data.sources import guess_scheme, parse_data_spec
from alignkit.errors import AlignkitError, BadItemError
from tests.helpers.images import index_of_image, png_bytes, write_tar


def assert_aligned(pairs) -> None:
    """Each caption says 'item N' and the image's colour must be N's colour."""
    for p in pairs:
        n = int(p.captions[0].split()[1])
        assert index_of_image(decode_image(p.image)) == n, p.key


def reasons(source) -> dict[str, str]:
    return {s.key: s.reason for s in source.skipped}


# ---- webdataset ---------------------------------------------------------------------------


def _sample(i: int, caption: bytes | None = None, image: bytes | None = None, ext: str = "png") -> list[tuple[str, bytes]]:
    key = f"{i:06d}"
    out = [(f"{key}.{ext}", png_bytes(i) if image is None else image)]
    out.append((f"{key}.txt", f"item {i}".encode() if caption is None else caption))
    return out


def test_webdataset_bad_items_in_the_middle(tmp_path: Path) -> None:
    members = _sample(0) + _sample(1, ext="jpg")
    members += _sample(2, caption=b"")  # empty caption
    members += _sample(3, caption=b"   \n\t ")  # whitespace only
    members += _sample(4, caption=b"caf\xe9 \xff")  # not UTF-8
    members += [("000005.png", png_bytes(5))]  # no caption at all
    members += [("000006.txt", b"item 6")]  # no image
    members += _sample(7) + [("000007.json", json.dumps({"captions": ["item 7 again"], "url": "u7"}).encode())]
    members += _sample(8, image=b"not an image")  # passes the source, fails at decode
    members += _sample(9)
    members += [("000007.png", png_bytes(1)), ("000007.txt", b"item 1 duplicate")]  # duplicate key: keep the first
    members += _sample(10, ext="webp", image=png_bytes(10, fmt="WEBP"))
    write_tar(tmp_path / "shard-000.tar", members)
    write_tar(tmp_path / "shard-001.tar", _sample(11) + _sample(12, caption=b""))

    src = open_source(f"wds:{tmp_path}/shard-{{000..002}}.tar")
    pairs = list(src)
    keys = [p.key for p in pairs]
    assert keys == ["000000", "000001", "000007", "000008", "000009", "000010", "000011"]
    assert_aligned([p for p in pairs if p.key != "000008"])
    with pytest.raises(BadItemError, match="not a recognised image"):
        decode_image(pairs[keys.index("000008")].image)
    assert pairs[2].captions == ["item 7", "item 7 again"] and pairs[2].meta["url"] == "u7"
    r = reasons(src)
    # one skip per bad item: the pair's, saying why its only caption was unusable
    assert r["000002"] == "no usable caption: empty or whitespace-only caption"
    assert r["000003"] == "no usable caption: empty or whitespace-only caption"
    assert r["000004"].startswith("no usable caption") and "UTF-8" in r["000004"]
    assert not [k for k in r if k.startswith(("000002#", "000003#", "000004#"))]
    assert r["000005"] == "no usable caption" and r["000006"] == "no image"
    assert r["000007"].startswith("duplicate key")
    assert r[f"{tmp_path}/shard-002.tar"] == "missing shard"
    assert r["000012"].startswith("no usable caption")
    counts = summarize_skips(src.skipped)
    assert counts["no usable caption"] == 5 and counts["duplicate key"] == 1


def test_webdataset_truncated_shard_keeps_samples_before_the_damage(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "a.tar", _sample(0) + _sample(1) + _sample(2, image=png_bytes(2, size=300)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3000 - 1024])  # cut inside the last image
    src = open_source(str(path))
    pairs = list(src)
    assert [p.key for p in pairs][:2] == ["000000", "000001"]
    assert_aligned(pairs[:2])
    assert any("unreadable shard" in s.reason for s in src.skipped)


# ---- tables -------------------------------------------------------------------------------


def _write_images(root: Path, ids: list[int]) -> None:
    (root / "img").mkdir(parents=True, exist_ok=True)
    for i in ids:
        (root / "img" / f"{i}.png").write_bytes(png_bytes(i))


def test_csv_bad_rows_and_merged_captions(tmp_path: Path) -> None:
    _write_images(tmp_path, [0, 1, 2, 4, 5])
    lines = [
        b"path,text",
        b"img/0.png,item 0",
        b"img/1.png,item 1",
        b"img/3.png,item 3",  # missing file
        b"img/2.png,   ",  # whitespace caption
        b"img/4.png,item 4 \xff\xfe",  # not UTF-8: dropped, not mangled into the caption
        b"img/1.png,item 1 second caption",  # same image: merged
        b"img/5.png,item 5",
        b",item 6",  # no image
    ]
    (tmp_path / "t.csv").write_bytes(b"\n".join(lines) + b"\n")
    src = open_source(f"csv:{tmp_path}/t.csv?image=path&caption=text")
    pairs = list(src)
    assert [p.key for p in pairs] == ["img/0.png", "img/1.png", "img/5.png"]
    assert pairs[1].captions == ["item 1", "item 1 second caption"]
    assert_aligned(pairs)
    r = reasons(src)
    assert r["img/3.png"].startswith("missing file")
    assert r["img/2.png"].startswith("no usable caption") and "UTF-8" in r["img/4.png"]
    assert r["row7"] == "no image"


def test_parquet_list_captions_and_missing_column(tmp_path: Path) -> None:
    _write_images(tmp_path, [0, 1, 2])
    pl.DataFrame(
        {"file": ["img/0.png", "img/1.png", "img/2.png"], "captions": [["item 0", "zero"], [], ["item 2", ""]]}
    ).write_parquet(tmp_path / "t.parquet")
    src = open_source(f"{tmp_path}/t.parquet?image=file&caption=captions")
    pairs = list(src)
    assert [p.key for p in pairs] == ["img/0.png", "img/2.png"]
    assert pairs[0].captions == ["item 0", "zero"] and pairs[1].captions == ["item 2"]
    assert_aligned(pairs)
    with pytest.raises(AlignkitError, match="no column"):
        list(open_source(f"parquet:{tmp_path}/t.parquet?image=nope"))


# ---- folder -------------------------------------------------------------------------------


def test_folder_jsonl_with_bad_lines(tmp_path: Path) -> None:
    _write_images(tmp_path, [0, 1, 2, 3])
    (tmp_path / "img" / "2.png").write_bytes(b"")  # zero bytes: the source passes it on, decoding refuses
    rows = [
        json.dumps({"image": "img/0.png", "caption": "item 0"}).encode(),
        b"{not json",
        json.dumps({"image": "img/9.png", "caption": "item 9"}).encode(),
        json.dumps({"caption": "no image field"}).encode(),
        json.dumps({"image": "img/2.png", "captions": ["item 2"]}).encode(),
        json.dumps({"image": "img/1.png", "text": "  "}).encode(),
        json.dumps({"image": "img/3.png", "captions": ["item 3", "", "three"]}).encode(),
        json.dumps({"image": "img/0.png", "caption": "item 0 repeated"}).encode(),
    ]
    (tmp_path / "captions.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    src = open_source(str(tmp_path))  # a plain folder: its captions.jsonl is found
    pairs = list(src)
    assert [p.key for p in pairs] == ["img/0.png", "img/2.png", "img/3.png"]
    assert pairs[2].captions == ["item 3", "three"]
    with pytest.raises(BadItemError, match="0 bytes"):
        decode_image(pairs[1].image)
    assert_aligned([pairs[0], pairs[2]])
    r = reasons(src)
    assert r["captions.jsonl:2"].startswith("unreadable captions line")
    assert r["img/9.png"].startswith("missing file") and "no image" in r["captions.jsonl:4"]
    assert r["img/1.png"].startswith("no usable caption") and r["img/0.png"].startswith("duplicate key")


def test_folder_json_mapping(tmp_path: Path) -> None:
    _write_images(tmp_path, [0, 1])
    (tmp_path / "caps.json").write_text(json.dumps({"img/0.png": "item 0", "img/1.png": ["item 1", "one"]}))
    pairs = list(open_source(f"folder:{tmp_path}?captions=caps.json"))
    assert [p.captions for p in pairs] == [["item 0"], ["item 1", "one"]]
    assert_aligned(pairs)
    assert [p.key for p in open_source(str(tmp_path / "caps.json"))] == ["img/0.png", "img/1.png"]


# ---- Hugging Face -------------------------------------------------------------------------


def test_hf_saved_dataset(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    images = [{"bytes": png_bytes(i), "path": None} for i in range(5)]
    images[3] = {"bytes": b"\x89PNG\r\n\x1a\n truncated", "path": None}
    ds = datasets.Dataset.from_dict(
        {"img": images, "caption": [["item 0", "zero"], ["item 1"], [], ["item 3"], [" item 4 "]]},
        features=datasets.Features({"img": datasets.Image(), "caption": datasets.Sequence(datasets.Value("string"))}),
    )
    ds.save_to_disk(tmp_path / "ds")
    src = open_source(f"hf:{tmp_path}/ds?image=img&text=caption")
    pairs = list(src)
    assert [p.key for p in pairs] == ["000000000", "000000001", "000000003", "000000004"]
    assert isinstance(pairs[0].image, bytes)  # undecoded: decoding happens in the extractor's workers
    assert pairs[0].captions == ["item 0", "zero"] and pairs[3].captions == ["item 4"]
    assert_aligned([p for p in pairs if p.key != "000000003"])
    with pytest.raises(BadItemError):
        decode_image(pairs[2].image)
    assert reasons(src)["000000002"] == "no usable caption"
    with pytest.raises(AlignkitError, match="no column"):
        list(open_source(f"hf:{tmp_path}/ds?image=picture"))


# ---- the spec syntax ----------------------------------------------------------------------


def test_spec_parsing_and_guessing(tmp_path: Path) -> None:
    assert parse_data_spec("csv:/a/b.csv?image=p&caption=t") == ("csv", "/a/b.csv", {"image": "p", "caption": "t"})
    assert parse_data_spec("wds:s3://bucket/x-{0..3}.tar") == ("wds", "s3://bucket/x-{0..3}.tar", {})
    assert parse_data_spec("/x/y.parquet") == (None, "/x/y.parquet", {})
    assert guess_scheme("/x/shards-{000..009}.tar") == "wds"
    assert guess_scheme("/x/t.tsv") == "tsv" and guess_scheme("/x/c.jsonl") == "folder"
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "dataset_info.json").write_text("{}")
    assert guess_scheme(str(tmp_path / "saved")) == "hf"
    with pytest.raises(AlignkitError, match="no such file"):
        open_source(str(tmp_path / "nothing.bin"))
    with pytest.raises(AlignkitError, match="unknown option"):
        open_source(f"csv:{tmp_path}/t.csv?imgae=x")
    with pytest.raises(AlignkitError, match="empty data spec"):
        open_source("  ")
    with pytest.raises(AlignkitError, match="never training data"):
        open_source("builtin:fashion-mnist")


def test_sources_joined_with_plus_read_as_one(tmp_path):
    import json

    from PIL import Image

    from alignkit.data import open_source

    for name, caption in (("a", "a red box"), ("b", "a blue box")):
        root = tmp_path / name
        root.mkdir()
        Image.new("RGB", (8, 8), (200, 0, 0)).save(root / "x.png")
        lines = [json.dumps({"image": "x.png", "caption": caption}), json.dumps({"image": "gone.png", "caption": "lost"})]
        (root / "captions.jsonl").write_text("\n".join(lines))
    src = open_source(f"folder:{tmp_path / 'a'} + folder:{tmp_path / 'b'}")
    pairs = list(src)
    assert [(p.key, p.captions) for p in pairs] == [("0:x.png", ["a red box"]), ("1:x.png", ["a blue box"])]
    assert sorted(s.key for s in src.skipped) == ["0:gone.png", "1:gone.png"]
