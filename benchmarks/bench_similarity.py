"""Speed and memory of the similarity metrics against the n x n formulations they replace.

Measures, side by side in one run:
  linear CKA  alignkit's feature-space form (O(n d^2)) at n = --n-large, and at each n of
              --n-gram next to the Gram-matrix form with mean-centred Grams (Kornblith et
              al.'s reference, O(n^2 d) time, O(n^2) memory), and at --n-trace next to
              trace(K H L H) with an explicit centring matrix H (the platonic-rep
              reference, O(n^3)). Value agreement is reported as relative difference.
              Speed-ups at n = --n-large are extrapolated from the largest measured n by
              each form's complexity (n^2 resp. n^3), and labelled as extrapolations.
  mutual k-NN peak resident memory of a fresh subprocess that builds the two (n, d) float32
              matrices and runs mutual_knn(k) at n = --n-large (VmHWM, reset once the inputs
              exist, so it includes the interpreter, torch, the inputs and the metric's
              working memory), and its wall time.

  coverage    (--coverage-reps > 0) how often score_pair's 95% intervals contain E[score at
              this n], estimated from 300 independent datasets of the same size; and the
              interval width as a share of the true sampling spread. Written to
              <out>_coverage.json/.md.

All CKA timings use float64 on both sides, the best of --repeats runs. The machine may be
shared; quote ratios from one run.

Usage: .venv/bin/python benchmarks/bench_similarity.py [--n-large 50000] [--d 1024]
         [--n-gram 5000,10000] [--n-trace 4000] [--k 10] [--out benchmarks/results/similarity]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alignkit.similarity import linear_cka, measure, mutual_knn, score_pair  # noqa: E402


def paired_features(n: int, d: int, seed: int = 0, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Two (n, d) views of a shared 64-dim latent plus independent noise (CKA well inside (0, 1)).

    Filled in row blocks so building the inputs never needs more than the two outputs.
    """
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((64, d), dtype=np.float32)
    b = rng.standard_normal((64, d), dtype=np.float32)
    x, y = np.empty((n, d), dtype=dtype), np.empty((n, d), dtype=dtype)
    for s in range(0, n, 4096):
        e = min(s + 4096, n)
        z = rng.standard_normal((e - s, 64), dtype=np.float32)
        x[s:e] = z @ a + 4 * rng.standard_normal((e - s, d), dtype=np.float32)
        y[s:e] = np.tanh(z @ b) + rng.standard_normal((e - s, d), dtype=np.float32)
    return x, y


def peak_rss_mib() -> float:
    """VmHWM, the peak resident set of this process since start or the last `reset_peak_rss`."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def gram_cka_mean_centred(x: torch.Tensor, y: torch.Tensor) -> float:
    """Reference Gram form: K = X X^T, L = Y Y^T, centred by row/column means, <Kc, Lc> / norms."""

    def centred_gram(m: torch.Tensor) -> torch.Tensor:
        g = m @ m.T
        col = g.mean(dim=0)
        return g.sub_(col[None, :]).sub_(col[:, None]).add_(col.mean())  # symmetric: row means == column means

    k = centred_gram(x)
    l_ = centred_gram(y)
    return float((k * l_).sum() / (k.square().sum().sqrt() * l_.square().sum().sqrt()))


def trace_cka_centring_matrix(x: torch.Tensor, y: torch.Tensor) -> float:
    """Reference form with an explicit centring matrix: HSIC = tr(K H L H), O(n^3)."""
    n = x.shape[0]
    h = torch.eye(n, dtype=x.dtype) - 1.0 / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.trace(a @ h @ b @ h)

    return float(hsic(k, l_) / (hsic(k, k) * hsic(l_, l_)).sqrt())


def best_time(fn, repeats: int) -> tuple[float, float]:
    """(best wall seconds, value) over ``repeats`` calls."""
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), value


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def bench_cka(n_large: int, d: int, n_gram: list[int], n_trace: int, repeats: int) -> dict:
    out: dict = {"d": d, "dtype": "float64", "gram": [], "trace": None}
    x, y = paired_features(n_large, d)
    t, v = best_time(lambda: linear_cka(x, y), repeats)
    out["feature_space_large"] = {"n": n_large, "seconds": t, "value": v}
    print(f"feature-space linear CKA n={n_large} d={d}: {t:.2f} s  value={v:.8f}", flush=True)
    del x, y
    for n in n_gram:
        xs, ys = (torch.from_numpy(a) for a in paired_features(n, d, seed=1))
        tf, vf = best_time(lambda: linear_cka(xs, ys), repeats)
        tg, vg = best_time(lambda: gram_cka_mean_centred(xs, ys), repeats)
        row = {"n": n, "feature_seconds": tf, "gram_seconds": tg, "speedup": tg / tf, "feature_value": vf,
               "gram_value": vg, "relative_difference": rel_diff(vf, vg)}
        out["gram"].append(row)
        print(f"n={n}: feature {tf:.3f} s, mean-centred Gram {tg:.2f} s -> {tg / tf:.1f}x, "
              f"rel diff {row['relative_difference']:.1e}", flush=True)
    xs, ys = (torch.from_numpy(a) for a in paired_features(n_trace, d, seed=2))
    tf, vf = best_time(lambda: linear_cka(xs, ys), repeats)
    tt, vt = best_time(lambda: trace_cka_centring_matrix(xs, ys), 1)
    out["trace"] = {"n": n_trace, "feature_seconds": tf, "trace_seconds": tt, "speedup": tt / tf,
                    "feature_value": vf, "trace_value": vt, "relative_difference": rel_diff(vf, vt)}
    print(f"n={n_trace}: feature {tf:.3f} s, tr(KHLH) {tt:.2f} s -> {tt / tf:.1f}x, "
          f"rel diff {out['trace']['relative_difference']:.1e}", flush=True)

    big = out["gram"][-1]
    scale = n_large / big["n"]
    gram_large = big["gram_seconds"] * scale**2
    trace_large = tt * (n_large / n_trace) ** 3
    out["extrapolated_to_large"] = {
        "note": f"EXTRAPOLATION, not measured: Gram form time scaled by (n/{big['n']})^2 from its measured "
                f"time, tr(KHLH) by (n/{n_trace})^3; feature-space time is measured at n={n_large}",
        "gram_seconds": gram_large,
        "gram_speedup": gram_large / out["feature_space_large"]["seconds"],
        "gram_memory_gib": 2 * n_large**2 * 8 / 2**30,
        "trace_seconds": trace_large,
        "trace_speedup": trace_large / out["feature_space_large"]["seconds"],
    }
    return out


def knn_child(n: int, d: int, k: int) -> None:
    """Run in a fresh process: build inputs, reset the peak-RSS mark, run mutual_knn, print JSON."""
    x, y = paired_features(n, d, dtype=np.float32)
    inputs = peak_rss_mib()
    reset_peak_rss()
    t0 = time.perf_counter()
    value = mutual_knn(x, y, k=k)
    seconds = time.perf_counter() - t0
    print(json.dumps({"n": n, "d": d, "k": k, "value": value, "seconds": seconds,
                      "rss_before_metric_mib": inputs, "peak_rss_mib": peak_rss_mib()}))


def bench_knn(n: int, d: int, k: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--knn-child", f"{n},{d},{k}"], capture_output=True, text=True,
                          check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["method"] = ("VmHWM (peak resident set, /proc/self/status) of a fresh subprocess, reset after the inputs "
                     "were built, so it counts interpreter + torch + both float32 inputs + the metric's working "
                     "memory")
    out["dense_reference_estimate_gib"] = {
        "note": "COMPUTED, not measured: one n x n float32 similarity matrix per side plus an int64 argsort",
        "gib": 2 * n * n * (4 + 8) / 2**30,
    }
    print(f"mutual_knn n={n} d={d} k={k}: peak RSS {out['peak_rss_mib']:.0f} MiB "
          f"(inputs built: {out['rss_before_metric_mib']:.0f} MiB), {out['seconds']:.1f} s", flush=True)
    return out


def coverage_dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One draw of n pairs from a fixed population (fixed loadings, fresh latents and noise)."""
    fixed = np.random.default_rng(999)
    a, b = fixed.standard_normal((5, 12)), fixed.standard_normal((5, 20))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 5))
    return z @ a + 2 * rng.standard_normal((n, 12)), np.tanh(z @ b) + rng.standard_normal((n, 20))


def bench_coverage(reps: int, n: int = 200, resamples: int = 60, truth_draws: int = 300) -> dict:
    metrics = ["linear_cka", "unbiased_cka", "mutual_knn", "cknna", "svcca"]
    samples = {m: np.array([measure(m, *coverage_dataset(n, 10_000 + s)) for s in range(truth_draws)])
               for m in metrics}
    hits, widths = {m: 0 for m in metrics}, {m: [] for m in metrics}
    for s in range(reps):
        for r in score_pair(*coverage_dataset(n, s), metrics, bootstrap=resamples, permutations=0, seed=s):
            m = r["metric"]
            hits[m] += r["ci_low"] <= samples[m].mean() <= r["ci_high"]
            widths[m].append(r["ci_high"] - r["ci_low"])
    out = {"n": n, "reps": reps, "resamples": resamples, "truth_draws": truth_draws, "confidence": 0.95,
           "metrics": {}}
    for m in metrics:
        out["metrics"][m] = {"coverage": hits[m] / reps,
                             "width_over_true_spread": float(np.mean(widths[m]) / (2 * 1.96 * samples[m].std(ddof=1)))}
        print(f"coverage {m}: {hits[m] / reps:.2f}, width / true 95% spread "
              f"{out['metrics'][m]['width_over_true_spread']:.2f}", flush=True)
    return out


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "cpu": cpu,
            "memory_mib": mem, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "load_average_at_start": list(os.getloadavg())}


def write_markdown(path: Path, r: dict) -> None:
    c, kn, m = r["cka"], r["mutual_knn"], r["machine"]
    fl, ex = c["feature_space_large"], c["extrapolated_to_large"]
    lines = [
        "# Similarity metric benchmarks",
        "",
        f"Command: `{r['command']}`  ",
        f"Machine: {m['cpu_count']} CPUs ({m['cpu']}), {m['memory_mib']} MiB RAM, torch {m['torch']} "
        f"({m['torch_threads']} threads), load average at start {m['load_average_at_start']} "
        "(shared machine: timings are noisy, ratios come from one run).  ",
        f"Date: {r['date']}",
        "",
        f"## Linear CKA, d = {c['d']} both sides, {c['dtype']}",
        "",
        f"Feature-space form at n = {fl['n']:,}: **{fl['seconds']:.2f} s** (value {fl['value']:.8f}).",
        "",
        "| n | feature-space s | Gram form s | speed-up | relative difference |",
        "|---|---|---|---|---|",
    ]
    for g in c["gram"]:
        lines.append(f"| {g['n']:,} | {g['feature_seconds']:.3f} | {g['gram_seconds']:.2f} (mean-centred Grams) | "
                     f"{g['speedup']:.1f}x | {g['relative_difference']:.1e} |")
    t = c["trace"]
    lines += [
        f"| {t['n']:,} | {t['feature_seconds']:.3f} | {t['trace_seconds']:.2f} (tr(KHLH), centring matrix) | "
        f"{t['speedup']:.1f}x | {t['relative_difference']:.1e} |",
        "",
        f"At n = {fl['n']:,} ({ex['note']}):",
        f"- mean-centred Gram form: ~{ex['gram_seconds']:.0f} s, **~{ex['gram_speedup']:.0f}x** slower than the "
        f"measured feature-space form, and it would need {ex['gram_memory_gib']:.0f} GiB for the two float64 Grams "
        f"(this machine has {m['memory_mib'] / 1024:.0f} GiB).",
        f"- tr(KHLH) form: ~{ex['trace_seconds']:.0f} s, **~{ex['trace_speedup']:.0f}x** slower.",
        "",
        f"## Mutual k-NN, n = {kn['n']:,}, d = {kn['d']}, k = {kn['k']}",
        "",
        f"Peak memory **{kn['peak_rss_mib']:.0f} MiB** ({kn['method']}); {kn['rss_before_metric_mib']:.0f} MiB "
        f"were in use once the inputs were built. Wall time {kn['seconds']:.1f} s, value {kn['value']:.4f}.",
        f"A dense reference ({kn['dense_reference_estimate_gib']['note']}) would need "
        f"~{kn['dense_reference_estimate_gib']['gib']:.0f} GiB.",
        "",
    ]
    path.write_text("\n".join(lines))


def write_coverage_markdown(path: Path, r: dict) -> None:
    c = r["coverage"]
    lines = [
        "# Similarity interval coverage",
        "",
        f"Command: `{r['command']}`  ",
        f"Date: {r['date']}",
        "",
        f"{c['reps']} datasets of n = {c['n']} pairs (12- and 20-dim views of a shared 5-dim latent), "
        f"{c['resamples']} resamples each; the target E[score at n] is the mean over {c['truth_draws']} further "
        f"datasets. Nominal coverage {c['confidence']:.0%}; with {c['reps']} datasets the coverage estimate has "
        f"a standard error of about {np.sqrt(0.95 * 0.05 / c['reps']):.2f}.",
        "",
        "| metric | coverage | interval width / true 95% spread |",
        "|---|---|---|",
    ]
    lines += [f"| {m} | {v['coverage']:.2f} | {v['width_over_true_spread']:.2f} |" for m, v in c["metrics"].items()]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-large", type=int, default=50_000)
    ap.add_argument("--d", type=int, default=1024)
    ap.add_argument("--n-gram", default="5000,10000", help="comma-separated n for the Gram-form comparison")
    ap.add_argument("--n-trace", type=int, default=4000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/similarity", help="writes <out>.json and <out>.md")
    ap.add_argument("--coverage-reps", type=int, default=0, help="datasets for the interval-coverage check (0: skip)")
    ap.add_argument("--skip-speed", action="store_true", help="only run the coverage check")
    ap.add_argument("--knn-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.knn_child:
        knn_child(*(int(v) for v in args.knn_child.split(",")))
        return
    command = " ".join([".venv/bin/python", "benchmarks/bench_similarity.py", *sys.argv[1:]])
    stamp = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.skip_speed:
        result = dict(stamp)
        result["cka"] = bench_cka(args.n_large, args.d, [int(v) for v in args.n_gram.split(",")], args.n_trace,
                                  args.repeats)
        result["mutual_knn"] = bench_knn(args.n_large, args.d, args.k)
        out.with_suffix(".json").write_text(json.dumps(result, indent=1))
        write_markdown(out.with_suffix(".md"), result)
        print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    if args.coverage_reps:
        cov = dict(stamp, coverage=bench_coverage(args.coverage_reps))
        path = out.with_name(out.name + "_coverage")
        path.with_suffix(".json").write_text(json.dumps(cov, indent=1))
        write_coverage_markdown(path.with_suffix(".md"), cov)
        print(f"wrote {path.with_suffix('.json')} and {path.with_suffix('.md')}")

if __name__ == "__main__":
    main()
