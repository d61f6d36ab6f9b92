"""Provenance in every output: a model folder records the package versions, the checkout's commit,
the time and a digest of its training data (the feature stores' content digests); report pages
stamp the same facts; benchmarks/provenance.py reads them from the same helper."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from alignkit.provenance import CHECKOUT, PACKAGES, git_commit, package_versions, run_provenance
from tests.helpers.bench_data import write_pairs


def _align(pairs: str, out: Path) -> Path:
    from alignkit.cli import cli

    res = CliRunner().invoke(cli, ["align", "--vision", "pixels?size=4", "--text", "hashed-ngrams?dim=64", "--data", pairs,
                                   "--out", str(out), "--epochs", "1", "--quiet"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return out


def test_a_model_folder_records_versions_commit_time_and_its_training_data(tmp_path, monkeypatch):
    from alignkit.features.store import FeatureStore, store_digest

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    pairs = write_pairs(tmp_path / "pairs", 24, 0)
    out = _align(pairs, tmp_path / "run")
    facts = json.loads((out / "provenance.json").read_text())
    assert set(facts["versions"]) == set(PACKAGES) and facts["versions"]["torch"] == package_versions(["torch"])["torch"]
    assert facts["commit"] == git_commit() and facts["time"].endswith("Z")
    data = json.loads((out / "config.json").read_text())["training_data"]
    assert facts["data"] == data and data["images"] == 24 and data["captions"] == 48
    digests = [store_digest(FeatureStore(m.parent).manifest) for m in (tmp_path / "cache").rglob("manifest.json")]
    assert sorted(data["feature_stores"].values()) == sorted(digests)  # the two stores' own content digests

    other = Path(pairs.split(":", 1)[1])  # one caption changed: another store, another digest
    lines = (other / "captions.jsonl").read_text().splitlines()
    lines[0] = lines[0].replace("square", "box")
    (other / "captions.jsonl").write_text("\n".join(lines))
    changed = json.loads((_align(pairs, tmp_path / "run2") / "config.json").read_text())["training_data"]
    assert changed["feature_stores"]["image"] == data["feature_stores"]["image"]
    assert changed["feature_stores"]["text"] != data["feature_stores"]["text"]


def test_the_commit_is_the_checkouts_with_dirty_marked(tmp_path):
    if not (CHECKOUT / ".git").exists():
        pytest.skip("alignkit is not running from a git checkout")
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=CHECKOUT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=CHECKOUT, capture_output=True,
                           text=True).stdout.strip()
    assert git_commit() == head + ("+dirty" if dirty else "")
    assert git_commit(tmp_path) is None  # not a checkout: no commit, rather than a wrong one


def test_reports_and_benchmark_results_share_the_helper():
    from alignkit.report import Report

    html = Report("x").to_html()
    assert f"torch {package_versions(['torch'])['torch']}" in html and "commit " in html
    sys.path.insert(0, str(CHECKOUT / "benchmarks"))
    try:
        import provenance as bench_provenance
    finally:
        sys.path.remove(str(CHECKOUT / "benchmarks"))
    facts = bench_provenance.provenance({"a": 1}, command="python x.py")
    assert facts["commit"] == (git_commit(bench_provenance.ROOT) or "unknown")
    for field in ("command", "commit", "recipe_digest", "machine", "load_average_at_start", "date"):
        assert field in facts  # the results files' existing fields stay
    assert facts["versions"] == run_provenance()["versions"]
