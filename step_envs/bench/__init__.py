"""The benchmark runner: score any agent on any suite, stream results to a directory, resume, report, compare."""

from step_envs.bench.report import render_report, write_report
from step_envs.bench.results import ResultsDir, summarize, write_summary
from step_envs.bench.runner import BenchRequest, BenchResult, plan, run_bench
from step_envs.bench.tables import compare_table, differing_tasks, summary_table

__all__ = ["BenchRequest", "BenchResult", "ResultsDir", "compare_table", "differing_tasks", "plan",
           "render_report", "run_bench", "summarize", "summary_table", "write_report", "write_summary"]
