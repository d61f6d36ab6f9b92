"""Benchmark and demo: rank encoder pairs, align, evaluate against training-free baselines, report.

    from alignkit.bench import BenchConfig, run_bench, write_bench_outputs
    outcome = run_bench(BenchConfig(vision_zoo="offline", text_zoo="offline"), "reports/bench")
"""

from alignkit.bench.config import BUILTIN_TASKS, BenchConfig
from alignkit.bench.demo import budget_note, demo_config, study_config
from alignkit.bench.runner import BenchOutcome, run_bench
from alignkit.bench.page import write_bench_outputs

__all__ = ["BUILTIN_TASKS", "BenchConfig", "BenchOutcome", "budget_note", "demo_config", "run_bench", "study_config", "write_bench_outputs"]
