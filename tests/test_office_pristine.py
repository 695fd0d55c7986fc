"""Nothing a LibreOffice episode changes reaches the next one: settings, recent documents, AutoCorrect entries,
toolbars, unsaved or modified documents, a dialog left open, the clipboard.

One episode of ``calc-add-header`` makes every change, the way an agent can (through LibreOffice's own API over
UNO, keys, and the profile's files), and checks that each one took; the env resets to the same task, and each test
compares what the next episode's LibreOffice holds. UNO runs inside the session through the system Python's
``uno`` (Debian's python3-uno)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from step_envs.desktop.env import DesktopEnv

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("office_uno.py")
PIPE = "step-gym-test-office"
CLIPBOARD = ("import sys, tkinter\nroot = tkinter.Tk()\nroot.withdraw()\ntry:\n    print(root.clipboard_get(), end='')\n"
             "except tkinter.TclError:\n    sys.exit(3)\n")
WORD, EXPANSION = "zzq", "ZZQ-EXPANDED"


def _has_uno() -> bool:
    return shutil.which("soffice") is not None and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import uno"], capture_output=True).returncode == 0


pytestmark = [pytest.mark.desktop,
              pytest.mark.skipif(not _has_uno(), reason="needs LibreOffice and python3-uno (make install)")]


class Episode:
    """What one episode's session shows: LibreOffice's state over UNO, its windows, the clipboard."""

    def __init__(self, env: DesktopEnv) -> None:
        self.env = env
        assert env.client is not None
        self.client = env.client
        self.home = self.client.execute("printf %s \"$HOME\"", shell=True)["output"]
        self.doc = f"file://{self.home}/scores.xlsx"
        self.client.upload("~/.office_uno.py", SCRIPT.read_bytes())

    def uno(self, *args: str) -> dict[str, Any]:
        self.client.execute(["soffice", f"--accept=pipe,name={PIPE};urp;"])  # the running LibreOffice listens
        result = self.client.execute([SYSTEM_PYTHON, "~/.office_uno.py", PIPE, *args], timeout=90)
        assert result["returncode"] == 0, result
        return json.loads(result["output"]) if result["output"] else {}

    def type_word(self) -> str:
        """Type the AutoCorrect word into the cell ``office_uno.TYPED_CELL`` and return what the cell then holds."""
        self.uno("select", self.doc, "A5")
        self.env.step(f"pyautogui.write('{WORD} ')")
        self.env.step("pyautogui.press('enter')")
        return self.uno("inspect", self.doc)["typed"].strip()

    def clipboard(self) -> str | None:
        result = self.client.execute([SYSTEM_PYTHON, "-c", CLIPBOARD])
        return result["output"] if result["returncode"] == 0 else None

    def titles(self) -> list[str]:
        return [window["title"] for window in self.client.windows()]


@pytest.fixture(scope="module", params=["restart", "snapshot"])
def episodes(request: pytest.FixtureRequest) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(what the first episode left, what the next one starts with), for each reset mode: apps restarted, or the
    session restored from the CRIU snapshot taken after the first reset's setup (tests/test_snapshot.py)."""
    if request.param == "snapshot":
        from snapshot_support import require_snapshots

        require_snapshots()
    env = DesktopEnv(task="calc-add-header", max_steps=50, reset_mode=request.param)
    try:
        env.reset(seed=0)
        first = Episode(env)
        first.client.execute(["cp", "~/scores.xlsx", "~/other.xlsx"])
        first.client.execute([SYSTEM_PYTHON, "~/.office_uno.py", "-", "autocorrect", WORD, EXPANSION])
        first.client.execute(["soffice", "~/other.xlsx"])  # opened as a user opens a file (returns once open)
        first.client.execute(["soffice", "--calc"])  # and a new document
        left = first.uno("change", first.doc, f"file://{first.home}/other.xlsx")
        left["typed"] = first.type_word()
        left["clipboard"] = first.clipboard()
        env.step("pyautogui.hotkey('ctrl', '1')")  # Format Cells, modal, left open
        deadline = time.monotonic() + 30
        while "Format Cells" not in first.titles() and time.monotonic() < deadline:
            time.sleep(0.1)
        left["windows"] = first.titles()

        _, info = env.reset(seed=0)
        assert "env_error" not in info, info
        assert info.get("snapshot") == ("restored" if request.param == "snapshot" else None), info
        second = Episode(env)
        found = second.uno("inspect", second.doc)
        found["windows"], found["clipboard"] = second.titles(), second.clipboard()
        found["typed"] = second.type_word()
        yield left, found
    finally:
        env.close()


def test_a_setting_changed_in_an_episode_is_back_to_its_default_in_the_next(episodes) -> None:
    left, found = episodes
    assert left["setting"] is True and found["setting"] is False


def test_a_document_opened_in_an_episode_is_not_a_recent_document_in_the_next(episodes) -> None:
    left, found = episodes
    assert any(url.endswith("/other.xlsx") for url in left["recent"])
    assert not any(url.endswith("/other.xlsx") for url in found["recent"])


def test_an_autocorrect_entry_added_in_an_episode_is_unknown_in_the_next(episodes) -> None:
    left, found = episodes
    assert left["typed"] == EXPANSION and found["typed"] == WORD


def test_a_toolbar_hidden_in_an_episode_shows_in_the_next(episodes) -> None:
    left, found = episodes
    assert left["toolbar_shown"] is False and left["toolbar_stored"] is False
    assert found["toolbar_shown"] is True and found["toolbar_stored"] is not False


def test_unsaved_and_modified_documents_of_an_episode_are_gone_in_the_next(episodes) -> None:
    left, found = episodes
    assert ["Untitled 1", True] in left["documents"] and left["a1"] == "LEAK"
    assert found["documents"] == [[found["documents"][0][0], False]] and found["a1"] == ""
    assert found["documents"][0][0].endswith("/scores.xlsx")
    assert not [title for title in found["windows"] if "Untitled" in title or "Recovery" in title]


def test_a_dialog_left_open_in_an_episode_is_gone_in_the_next(episodes) -> None:
    left, found = episodes
    assert "Format Cells" in left["windows"] and "Format Cells" not in found["windows"]


def test_the_clipboard_of_an_episode_is_empty_in_the_next(episodes) -> None:
    left, found = episodes
    assert left["clipboard"] == "Linus" and found["clipboard"] is None
