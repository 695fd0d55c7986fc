"""`report.html`: one self-contained page (inline CSS, no script, nothing fetched) over a results directory.

Summary tables per domain and per difficulty, one row per episode, and a step-by-step viewer per episode (shown
when its row's link is followed, by CSS `:target`) with the screenshots and, from `bench --record`, the episode's
video, which the page references by relative path inside the results directory, so the directory can be copied or
served as it is.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from step_envs.bench.results import REPORT, ResultsDir, summarize, write_atomic
from step_envs.bench.stats import interval_text

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.ok td.score{background:#dff5df}tr.fail td.score{background:#f9e0e0}tr.err td.score{background:#f5ecd0}
.episode{display:none;border-top:2px solid #888;margin-top:24px;padding-top:8px}.episode:target{display:block}
.step{display:flex;gap:16px;margin:12px 0;border-bottom:1px solid #eee;padding-bottom:12px}
.step img{max-width:640px;width:50vw;border:1px solid #aaa}
video.recording{max-width:640px;width:50vw;border:1px solid #aaa}
pre{white-space:pre-wrap;background:#f7f7f7;padding:6px;margin:4px 0;max-width:600px}
.error{color:#a00}.muted{color:#777}
"""


def _rate(stats: dict[str, Any]) -> str:
    rate = stats.get("success_rate")
    return "-" if rate is None else f"{100 * rate:.1f}% {interval_text(stats)}"


def _number(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _stats_table(title: str, groups: dict[str, dict[str, Any]], overall: dict[str, Any], column: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in (column, "episodes", "scored", "solved", "success [95 % CI]",
                                                       "env errors", "mean steps"))
    body = []
    for name, stats in [*groups.items(), ("all", overall)]:
        cells = [escape(name), stats["episodes"], stats["scored"], stats["solved"], _rate(stats),
                 stats["env_errors"], _number(stats["mean_steps"])]
        body.append("<tr>" + "".join(f'<td{"" if i == 0 else " class=n"}>{c}</td>' for i, c in enumerate(cells))
                    + "</tr>")
    return f'<h2>{escape(title)}</h2>\n<table class="summary" id="by-{column}">' \
           f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _row_class(row: dict[str, Any]) -> str:
    if row.get("env_error"):
        return "err"
    return "ok" if (row.get("score") or 0) >= 1.0 else "fail"


def _episode_rows(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("task", "seed", "domain", "difficulty", "score", "steps", "time s",
                                             "checker's reason / env error"))
    body = []
    for n, row in enumerate(rows):
        score = "env_error" if row.get("env_error") else _number(row.get("score"), 2)
        note = row.get("env_error") or row.get("reason") or ""
        body.append(
            f'<tr class="{_row_class(row)}"><td><a href="#ep-{n}">{escape(row["task"])}</a></td>'
            f'<td class=n>{escape(str(row.get("seed")))}</td><td>{escape(str(row.get("domain", "")))}</td>'
            f'<td>{escape(str(row.get("difficulty", "")))}</td><td class="n score">{score}</td>'
            f'<td class=n>{row.get("steps", 0)}</td><td class=n>{_number(row.get("time_s"))}</td>'
            f"<td>{escape(note)}</td></tr>")
    return f'<h2>Episodes</h2>\n<table id="episodes"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _steps(results: ResultsDir, row: dict[str, Any]) -> list[dict[str, Any]]:
    steps_file = results.path / str(row.get("dir", "")) / "steps.json"
    try:
        return json.loads(steps_file.read_text())
    except (OSError, json.JSONDecodeError):
        return []


def _viewer(results: ResultsDir, n: int, row: dict[str, Any]) -> str:
    parts = [f'<section class="episode" id="ep-{n}"><h2>{escape(row["task"])} '
             f'<span class="muted">seed {escape(str(row.get("seed")))}</span></h2>',
             f"<p>{escape(row.get('instruction', ''))}</p>",
             f"<p>score <b>{'env_error' if row.get('env_error') else _number(row.get('score'), 2)}</b>, "
             f"{row.get('steps', 0)} steps, {_number(row.get('time_s'))} s: "
             f"{escape(row.get('env_error') or row.get('reason') or '')}</p>"]
    if row.get("recording"):
        video = escape(str(row["recording"]))
        parts.append(f'<p><video class="recording" controls preload="none" src="{video}"></video><br>'
                     f'<a href="{video}">the episode\'s recording (mp4)</a></p>')
    for step in _steps(results, row):
        image = (f'<img loading="lazy" alt="step {step["index"]}" src="{escape(row["dir"])}/{escape(step["screenshot"])}">'
                 if step.get("screenshot") else '<span class="muted">no screenshot</span>')
        error = (f'<div class="error">action error: {escape(str(step["action_error"]))}</div>'
                 if step.get("action_error") else "")
        raw = (f"<details><summary>model reply</summary><pre>{escape(step['raw'])}</pre></details>"
               if step.get("raw") else "")
        parts.append(f'<div class="step">{image}<div><b>step {step["index"] + 1}</b>'
                     f"<pre>{escape(str(step.get('action', '')))}</pre>{error}{raw}</div></div>")
    parts.append('<p><a href="#top">back to the tables</a></p></section>')
    return "\n".join(parts)


def render_report(results: ResultsDir, summary: dict[str, Any] | None = None) -> str:
    summary = summary or summarize(results)
    rows, meta, overall = results.final_rows(), summary["meta"], summary["overall"]
    title = f"{meta.get('agent', '?')} on {meta.get('suite', '?')}"
    header = (f"<h1 id=top>{escape(title)}</h1><p>{overall['episodes']} episodes, {overall['scored']} scored, "
              f"success <b>{_rate(overall)}</b> ({overall['solved']} solved), {overall['env_errors']} env errors; "
              f"max {escape(str(meta.get('max_steps')))} steps, action space "
              f"{escape(str(meta.get('action_space')))}; written {escape(summary['written'])}</p>")
    body = [header, _stats_table("By domain", summary["by_domain"], overall, "domain"),
            _stats_table("By difficulty", summary["by_difficulty"], overall, "difficulty"), _episode_rows(rows)]
    body.extend(_viewer(results, n, row) for n, row in enumerate(rows))
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(results: ResultsDir, summary: dict[str, Any] | None = None) -> Path:
    path = results.path / REPORT
    write_atomic(path, render_report(results, summary))
    return path
