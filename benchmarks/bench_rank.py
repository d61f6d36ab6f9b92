"""`alignkit rank-encoders` first run vs rerun on the offline zoo (3 vision x 3 text encoders).

The first run embeds the probe with every encoder and scores every pair; the rerun must find
everything in the cache (features and scores) and take a small fraction of the time.

Usage: .venv/bin/python benchmarks/bench_rank.py [--n 1000] [--out benchmarks/results/rank.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import provenance

VISION = "efficientnet-lite0,efficientnet-lite1,efficientnet-lite2"
TEXT = "minilm-l6,mpnet-base,hashed-ngrams"


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return time.perf_counter() - t0, res.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--out", default="benchmarks/results/rank.json")
    args = ap.parse_args()
    alignkit = str(Path(sys.executable).with_name("alignkit"))
    facts = provenance()
    with tempfile.TemporaryDirectory() as tmp:
        from alignkit.paths import data_root

        # an empty derived-files cache; the data sets stay where they were fetched
        env = {**os.environ, "ALIGNKIT_CACHE": str(Path(tmp) / "cache"), "ALIGNKIT_DATA": str(data_root()), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        cmd = [alignkit, "rank-encoders", "--vision-zoo", VISION, "--text-zoo", TEXT,
               "--probe", f"builtin:emoji?split=probe&n={args.n}", "--n", str(args.n), "--out", str(Path(tmp) / "report")]
        first, table = run(cmd, env)
        second, table2 = run(cmd, env)
    assert table == table2, "the rerun printed a different ranking"
    record = {
        "provenance": facts,
        "rank_command": " ".join(cmd[1:]), "first_run_s": round(first, 1), "rerun_s": round(second, 1),
        "rerun_fraction": round(second / first, 4), "ranking": table,
    }
    print(json.dumps(record, indent=1))
    Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
