"""Probe tasks: the smallest desktop tasks that exercise a reset, a step and a checker, for the tests and the
benchmark scripts. One definition for both, so a test and a benchmark figure speak of the same task.

    from step_envs.tasks.probes import WRITE_FILE
    env = DesktopEnv(task=WRITE_FILE)   # an episode costs a restore, two steps and a check
"""

from __future__ import annotations

from step_envs.tasks.model import Task

WRITE_FILE = Task.from_dict({
    "id": "probe-write-file",
    "instruction": "Create the file ~/answer.txt containing the word yes.",
    "config": [{"type": "execute", "parameters": {"command": "rm -f ~/answer.txt", "shell": True}}],
    "evaluator": {"func": "exact_match",
                  "result": {"type": "vm_command_line", "command": "cat ~/answer.txt 2>/dev/null", "shell": True},
                  "expected": {"type": "rule", "rules": {"expected": "yes\n"}}},
    "solution": ["import subprocess\nsubprocess.run('echo yes > ~/answer.txt', shell=True)", "DONE"],
})
"""No app, one ``execute`` setup step, a one-action solution and a file checker: a simple task's reset, a step,
an episode."""

EDITOR = Task.from_dict({
    "id": "probe-editor",
    "instruction": "Type into the text editor.",
    "config": [{"type": "execute", "parameters": {"command": "echo hello > ~/notes.txt", "shell": True}},
               {"type": "launch", "parameters": {"command": ["mousepad", "~/notes.txt"]},
                "ready": {"window": "notes.txt"}}],
    "evaluator": {"func": "infeasible"},
})
"""``~/notes.txt`` open in mousepad, focused: an app's reset (launch it, wait for its window) and typing into it.
Nothing to solve (its checker is ``infeasible``)."""
