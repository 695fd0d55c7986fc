"""OSWorld's ``env.controller`` and ``env.setup_controller``, by their method names, over our controller client.

OSWorld's run scripts call a few methods on these two objects besides the env's own (``start_recording`` /
``end_recording(dest)`` around an episode; ``get_screenshot``, ``execute_python_command`` in agents). These
adapters give them the same names and return shapes (None where OSWorld's return None on failure), so those
scripts run unchanged. Python commands run in the session's action worker, whose namespace already holds
``pyautogui`` (fail-safe off) and ``time``: what OSWorld's ``python -c`` prefix imports.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from step_envs.actions.env_actions import parse_computer13
from step_envs.desktop.setup import SetupError, SetupRunner
from step_envs.server.client import A11yError, ControllerClient
from step_envs.tasks.osworld import check_osworld


class OSWorldController:
    """OSWorld's ``PythonController`` methods. ``client`` gives the env's current controller client (it changes
    when a dead desktop is replaced); ``screen_size`` is the env's ``(width, height)``."""

    def __init__(self, client: Callable[[], ControllerClient], screen_size: tuple[int, int]) -> None:
        self._client = client
        self.screen_width, self.screen_height = screen_size

    def get_screenshot(self) -> bytes:
        """The screen as PNG bytes."""
        return self._client().screenshot_png()

    def get_accessibility_tree(self) -> str | None:
        """The AT-SPI tree as OSWorld's XML; None when it cannot be read (no AT-SPI in the session)."""
        try:
            return self._client().accessibility_tree()
        except A11yError:
            return None

    def get_terminal_output(self) -> str | None:
        """The active terminal's text; None when no terminal is active or the tree cannot be read."""
        try:
            return self._client().terminal_output()
        except A11yError:
            return None

    def get_file(self, file_path: str) -> bytes | None:
        return self._client().get_file(file_path)

    def execute_python_command(self, command: str) -> dict[str, Any]:
        """Run ``command`` in the action worker: ``{"status": "success" | "error", "output", "error",
        "returncode"}`` (0 on success, 1 otherwise), the shape of OSWorld's ``/execute`` reply."""
        result = self._client().act(command)
        ok = result.get("status") == "success"
        return {"status": "success" if ok else "error", "output": result.get("output") or "",
                "error": result.get("error") or "", "returncode": 0 if ok else 1}

    def execute_action(self, action: dict[str, Any] | str) -> None:
        """One ``computer_13`` action (WAIT / DONE / FAIL do nothing here); ValueError names what is wrong with a
        malformed one."""
        parsed = parse_computer13(action, self.screen_width, self.screen_height)
        if parsed.kind == "invalid":
            raise ValueError(f"bad computer_13 action {action!r}: {parsed.error}")
        if parsed.kind == "code":
            self.execute_python_command(parsed.code)

    def start_recording(self) -> None:
        self._client().start_recording()

    def end_recording(self, dest: str) -> None:
        """Stop the recording and write the mp4 to ``dest`` on this host."""
        Path(dest).write_bytes(self._client().end_recording())

    def get_vm_platform(self) -> str:
        return "Linux"

    def get_vm_screen_size(self) -> dict[str, int]:
        return {"width": self.screen_width, "height": self.screen_height}


class OSWorldSetupController:
    """OSWorld's ``SetupController.setup``: run a list of OSWorld setup steps, translated for this env as the task
    loader does (:mod:`step_envs.tasks.osworld`: ``/home/user`` becomes the env's home, ...)."""

    def __init__(self, client: Callable[[], ControllerClient], base_dir: Callable[[], Path | None]) -> None:
        self._client, self._base_dir = client, base_dir

    def setup(self, config: list[dict[str, Any]], use_proxy: bool = False) -> bool:
        """True when every step did its job, False when one failed (OSWorld's contract); ``use_proxy`` is
        ignored: the env's traffic goes direct."""
        steps = check_osworld({"id": "setup", "instruction": "", "config": config, "evaluator": {"func": "infeasible"}},
                              Path("setup.json"))
        if steps.task is None:
            return False
        try:
            SetupRunner(self._client(), self._base_dir()).run(steps.task.config)
        except SetupError:
            return False
        return True
