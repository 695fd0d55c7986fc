"""OSWorld's task files checked by running them, not by reading them.

For each task file: does it load and run here (offline unless told the machine has network), does its reset come
up clean (time, ``env_error``, the first screenshot), what does a do-nothing agent score (it says ``DONE`` at once:
a feasible task's checker should give 0, and so should an infeasible task's, whose right answer is ``FAIL``), and,
where the project has a solution (:mod:`step_envs.osworld.solutions`; an infeasible task's is ``FAIL``), does the
solution score 1.0. Each no-op above 0 is listed with why (:data:`NOOP_NOTES`): OSWorld's own rule, or our
starting state.

Rows go to ``audit.jsonl`` as each task ends (a second run resumes: tasks that ran are skipped; those that could not run
are looked at again, in case a file cache or ``--network`` lets them run now), screenshots to
``shots/``, then ``summary.json``, ``summary.md`` (the per-domain table) and ``index.html`` (every task, its
screenshots and scores). ``step-envs tasks audit-osworld`` is the command line.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from step_envs.core import ResetError
from step_envs.osworld import OSWORLD_SCREEN
from step_envs.osworld.solutions import Solution, load_solutions
from step_envs.tasks.osworld import OSWorldTask

NOOP_NOTES: dict[str, str] = {}
"""Task id -> why its do-nothing ``DONE`` scores above 0 (OSWorld's rule, or our starting state)."""

STATUSES = ("unsupported", "needs network", "reset error", "ran")


def _runs_here(item: OSWorldTask, network: bool) -> tuple[str, list[str]]:
    """``(status, reasons)`` before running: unsupported, needs network (offline), or runnable."""
    if item.task is None:
        return "unsupported", [str(r) for r in item.unsupported]
    if item.network and not network:
        return "needs network", [str(r) for r in item.network]
    return "ran", []


class _Envs:
    """One desktop per worker thread and provider, kept across tasks (a reset restores it), closed at the end."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        self._make, self._local = make, threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def get(self, provider: str) -> Any:
        envs = getattr(self._local, "envs", None)
        if envs is None:
            envs = self._local.envs = {}
        if provider not in envs:
            envs[provider] = self._make(provider)
            with self._lock:
                self._all.append(envs[provider])
        return envs[provider]

    def close(self) -> None:
        for env in self._all:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - closing what is left; one failure must not keep the others open
                pass


def make_env(provider: str, max_steps: int = 200) -> Any:
    """The desktop the audit runs a task on: OSWorld's screen size, pyautogui actions."""
    from step_envs.desktop.env import DesktopEnv

    return DesktopEnv(provider=provider, screen_size=OSWORLD_SCREEN, max_steps=max_steps)


def _save_png(array: Any, path: Path) -> str:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, optimize=False, compress_level=1)
    return str(path)


def _episode(env: Any, item: OSWorldTask, actions: Iterable[str], last: str, shot: Path | None = None,
             end_shot: Path | None = None) -> dict[str, Any]:
    """Reset ``env`` to the task, step ``actions`` then ``last`` (DONE/FAIL): reset time and error, score, reason,
    the error of the first action that failed, and the first screenshot (``shot``) and the one before ``last``
    (``end_shot``)."""
    t0 = time.monotonic()
    try:
        obs, info = env.reset(options={"task": item.task})
    except ResetError as exc:  # a finding of the audit, not its end
        obs, info = exc.observation, exc.info
    out: dict[str, Any] = {"reset_s": round(time.monotonic() - t0, 2), "env_error": info.get("env_error"),
                           "score": None, "reason": "", "action_error": None, "steps": 0}
    if out["env_error"]:
        return out
    if shot is not None:
        out["screenshot"] = _save_png(obs["screenshot"], shot)
    t0 = time.monotonic()
    steps = [*actions, last]
    for index, action in enumerate(steps):
        if index == len(steps) - 1 and end_shot is not None:
            out["end_screenshot"] = _save_png(obs["screenshot"], end_shot)
        obs, reward, terminated, truncated, info = env.step(action)
        out["steps"] += 1
        if info.get("action_error") and out["action_error"] is None:
            out["action_error"] = f"step {out['steps']}: {info['action_error']}"
        if info.get("env_error"):
            out["env_error"] = info["env_error"]
            break
        if terminated or truncated:
            out["score"], out["reason"] = reward, info.get("reason", "")
            break
    out["seconds"] = round(time.monotonic() - t0, 2)
    return out


def audit_task(item: OSWorldTask, solution: Solution | None, envs: _Envs, out: Path, network: bool = False,
               provider: str | None = None) -> dict[str, Any]:
    """One task's audit row (see the module docstring)."""
    status, reasons = _runs_here(item, network)
    row: dict[str, Any] = {"domain": item.domain, "id": item.id, "instruction": item.instruction[:300],
                           "status": status, "reasons": reasons, "infeasible": bool(item.task and item.task.infeasible),
                           "docker": [str(r) for r in item.docker], "provider": None, "reset_s": None,
                           "reset_error": None, "screenshot": None, "noop_score": None, "noop_reason": "",
                           "noop_note": None, "solution": None, "solution_score": None, "solution_reason": "",
                           "solution_error": None, "end_screenshot": None}
    if status != "ran":
        return row
    row["provider"] = provider or ("docker" if item.docker else "local")
    env = envs.get(row["provider"])
    shots = out / "shots" / item.domain
    noop = _episode(env, item, [], "DONE", shots / f"{item.id}.png")
    row["reset_s"], row["reset_error"] = noop["reset_s"], noop["env_error"]
    row["screenshot"] = Path(noop["screenshot"]).relative_to(out).as_posix() if noop.get("screenshot") else None
    if noop["env_error"]:
        row["status"] = "reset error" if noop["score"] is None and noop["steps"] == 0 else "ran"
        row["noop_error"] = noop["env_error"]
        if row["status"] == "reset error":
            return row
    row["noop_score"], row["noop_reason"] = noop["score"], noop["reason"]
    if noop["score"]:
        row["noop_note"] = NOOP_NOTES.get(item.id, "not explained yet")
    if item.task.infeasible:
        row["solution"] = "FAIL"
        run = _episode(env, item, [], "FAIL", None)
    elif solution is not None:
        row["solution"] = str(solution.path.name)
        run = _episode(env, item, solution.actions, "DONE", end_shot=shots / f"{item.id}-end.png")
    else:
        return row
    row["solution_score"], row["solution_reason"] = run["score"], run["reason"]
    row["solution_error"] = run["env_error"] or run["action_error"]
    row["solution_s"] = run.get("seconds")
    if run.get("end_screenshot"):
        row["end_screenshot"] = Path(run["end_screenshot"]).relative_to(out).as_posix()
    return row


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows already in ``audit.jsonl`` (a line cut short by a crash is dropped)."""
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def latest_rows(path: Path) -> list[dict[str, Any]]:
    """Every task's latest row in ``audit.jsonl``, sorted by domain and id (what the outputs are written from)."""
    latest = {(row["domain"], row["id"]): row for row in read_rows(path)}
    return [latest[key] for key in sorted(latest)]


def audit(items: list[OSWorldTask], out: str | Path, envs: int = 1, network: bool = False,
          provider: str | None = None, solutions: dict[str, Solution] | None = None, fresh: bool = False,
          make: Callable[[str], Any] = make_env, progress: Callable[[dict[str, Any]], None] | None = None,
          redo: bool = False) -> list[dict[str, Any]]:
    """Audit ``items`` with ``envs`` desktops in parallel, appending to ``out/audit.jsonl`` (resumed unless
    ``fresh``; ``redo`` runs ``items`` again even when recorded, the new rows replacing the old); returns every row
    (old and new), in the order of ``items``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "audit.jsonl"
    if fresh:
        log.unlink(missing_ok=True)
    solutions = load_solutions() if solutions is None else solutions
    # OSWorld reuses a few ids across domains; a later row of a task replaces an earlier one. Tasks that did not
    # run (unsupported, needs network) are looked at again: a file cache or --network may let them run now
    done = {(row["domain"], row["id"]): row for row in read_rows(log)}
    todo = [item for item in items
            if redo or done.get((item.domain, item.id), {}).get("status") not in ("ran", "reset error")]
    pool, lock = _Envs(make), threading.Lock()

    def one(item: OSWorldTask) -> dict[str, Any]:
        try:
            row = audit_task(item, solutions.get(f"{item.domain}/{item.id}"), pool, out, network, provider)
        except Exception as exc:  # noqa: BLE001 - the audit reports a task that broke it and goes on
            row = {"domain": item.domain, "id": item.id, "instruction": item.instruction[:300],
                   "status": "reset error", "reasons": [], "reset_error": f"audit failed: {type(exc).__name__}: "
                                                                          f"{exc}"}
        with lock:
            with log.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
        return row

    try:
        with ThreadPoolExecutor(max_workers=max(1, envs)) as executor:
            futures = [executor.submit(one, item) for item in todo]
            for future in as_completed(futures):
                row = future.result()
                done[row["domain"], row["id"]] = row
                if progress is not None:
                    progress(row)
    finally:
        pool.close()
    return [done[item.domain, item.id] for item in items if (item.domain, item.id) in done]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per domain and overall: files, runnable here, reset clean, no-op scored 0 (of those reset), solutions run,
    solved (1.0), infeasible answered FAIL; plus the no-ops above 0 and the failed resets, with why."""
    def counts(group: list[dict[str, Any]]) -> dict[str, int]:
        ran = [r for r in group if r["status"] == "ran"]
        solved = [r for r in ran if r.get("solution_score") == 1.0]
        return {"files": len(group), "runnable": sum(r["status"] in ("ran", "reset error") for r in group),
                "reset_clean": len(ran), "reset_error": sum(r["status"] == "reset error" for r in group),
                "noop_zero": sum(r.get("noop_score") == 0.0 for r in ran),
                "noop_above_zero": sum(bool(r.get("noop_score")) for r in ran),
                "with_solution": sum(bool(r.get("solution")) and r.get("solution") != "FAIL" for r in ran),
                "solved": sum(r.get("solution") != "FAIL" for r in solved),
                "infeasible_fail": sum(r.get("solution") == "FAIL" for r in solved),
                "needs_network": sum(r["status"] == "needs network" for r in group),
                "unsupported": sum(r["status"] == "unsupported" for r in group)}

    domains = sorted({r["domain"] for r in rows})
    return {"domains": {d: counts([r for r in rows if r["domain"] == d]) for d in domains},
            "total": counts(rows),
            "noop_above_zero": [{k: r.get(k) for k in ("domain", "id", "noop_score", "noop_reason", "noop_note")}
                                for r in rows if r.get("noop_score")],
            "reset_errors": [{k: r.get(k) for k in ("domain", "id", "reset_error")}
                             for r in rows if r["status"] == "reset error"],
            "unsolved": [{k: r.get(k) for k in ("domain", "id", "solution_score", "solution_reason",
                                                "solution_error")}
                         for r in rows if r.get("solution") and r.get("solution_score") != 1.0]}


COLUMNS = (("files", "files"), ("runnable", "runnable here"), ("reset_clean", "reset clean"),
           ("noop_zero", "no-op 0"), ("noop_above_zero", "no-op > 0"), ("with_solution", "solutions"),
           ("solved", "solved"), ("infeasible_fail", "infeasible: FAIL"), ("needs_network", "needs network"),
           ("unsupported", "unsupported"))


def summary_markdown(summary: dict[str, Any]) -> str:
    """The per-domain table, then the no-ops above 0 and the failed resets, in markdown."""
    lines = ["| domain | " + " | ".join(title for _, title in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for name, group in [*summary["domains"].items(), ("**all**", summary["total"])]:
        lines.append(f"| {name} | " + " | ".join(str(group[key]) for key, _ in COLUMNS) + " |")
    if summary["noop_above_zero"]:
        lines += ["", "Do-nothing (`DONE`) episodes that scored above 0:", ""]
        lines += [f"- {r['domain']} {r['id']}: {r['noop_score']:g}; {r['noop_note']} (checker: {r['noop_reason']})"
                  for r in summary["noop_above_zero"]]
    if summary["reset_errors"]:
        lines += ["", "Resets that failed:", ""]
        lines += [f"- {r['domain']} {r['id']}: {' '.join(str(r['reset_error']).split())}" for r in summary["reset_errors"]]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return html.escape(str(value))


def render_html(rows: list[dict[str, Any]], summary: dict[str, Any], title: str) -> str:
    """One page: the per-domain table, then every task with its screenshots, scores and reasons."""
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in COLUMNS)
    table = "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{group[k]}</td>" for k, _ in COLUMNS)
                    + "</tr>" for name, group in [*summary["domains"].items(), ("all", summary["total"])])
    cards = []
    for r in rows:
        verdict = ("bad" if r["status"] == "reset error" or r.get("noop_score") or
                   (r.get("solution") and r.get("solution_score") != 1.0) else
                   "good" if r.get("solution_score") == 1.0 else "plain")
        shots = "".join(f'<a href="{html.escape(p)}"><img src="{html.escape(p)}" loading="lazy"></a>'
                        for p in (r.get("screenshot"), r.get("end_screenshot")) if p)
        facts = [("status", r["status"]), ("provider", r.get("provider")), ("reset", r.get("reset_s") and
                                                                            f"{r['reset_s']:.2f} s"),
                 ("reset error", r.get("reset_error")), ("no-op (DONE)", r.get("noop_score")),
                 ("no-op reason", r.get("noop_reason")), ("why", r.get("noop_note")),
                 ("solution", r.get("solution")), ("solution score", r.get("solution_score")),
                 ("solution reason", r.get("solution_reason")), ("solution error", r.get("solution_error")),
                 ("reasons", "; ".join(r.get("reasons") or []))]
        dl = "".join(f"<dt>{k}</dt><dd>{_cell(v)}</dd>" for k, v in facts if v not in (None, ""))
        cards.append(f'<section class="{verdict}"><h3>{html.escape(r["domain"])} / {html.escape(r["id"])}</h3>'
                     f'<p>{html.escape(r.get("instruction", ""))}</p>{shots}<dl>{dl}</dl></section>')
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>
body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:3px 8px;text-align:right}} td:first-child{{text-align:left}} section{{border-left:6px solid #ccc;
margin:1em 0;padding:.3em 1em}} section.good{{border-color:#3a3}} section.bad{{border-color:#c33}}
img{{width:480px;margin:4px;border:1px solid #999}} dt{{font-weight:bold;float:left;clear:left;width:10em}}
dd{{margin-left:11em}}</style></head><body><h1>{html.escape(title)}</h1>
<table><tr><th>domain</th>{head}</tr>{table}</table>{''.join(cards)}</body></html>"""


def write_outputs(rows: list[dict[str, Any]], out: str | Path, title: str = "OSWorld audit") -> dict[str, Any]:
    """``summary.json``, ``summary.md`` and ``index.html`` in ``out``; returns the summary."""
    out = Path(out)
    summary = summarize(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.md").write_text(summary_markdown(summary))
    (out / "index.html").write_text(render_html(rows, summary, title))
    return summary
