"""The ``idle`` readiness rule: a setup step is ready once the app that owns its window stopped working (and the
screen stopped changing), however long the app keeps busy after showing its window; an app that never settles fails
the step, naming what kept busy; LibreOffice tasks, ready by it, start on the same screen every time."""

from __future__ import annotations

import shutil
import time

import pytest

from step_envs.desktop.env import DesktopEnv
from step_envs.desktop.setup import SetupError, SetupRunner
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop

# a Tk window that keeps its process busy for BUSY seconds after it shows, then marks the work done (or, with
# BUSY < 0, never stops)
APP = """
import pathlib, sys, time, tkinter
busy = float(sys.argv[1])
root = tkinter.Tk()
root.title("busy-probe")
root.update()
end = time.monotonic() + (busy if busy >= 0 else 1e9)
while time.monotonic() < end:
    pass
pathlib.Path.home().joinpath("busy-done").write_text("done")
root.mainloop()
"""


def _launch(client: ControllerClient, busy: float, ready: dict) -> float:
    client.upload("~/busy_probe.py", APP.encode())
    client.execute(["rm", "-f", "~/busy-done"])
    t0 = time.monotonic()
    SetupRunner(client).run([{"type": "launch", "parameters": {"command": ["python3", "~/busy_probe.py", str(busy)]},
                              "ready": ready}])
    return time.monotonic() - t0


def _close(client: ControllerClient) -> None:
    client.execute(["pkill", "-f", "busy_probe.py"])
    deadline = time.monotonic() + 10
    while any(w["title"] == "busy-probe" for w in client.windows()) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_idle_waits_until_the_app_that_showed_the_window_has_finished_its_work(client: ControllerClient) -> None:
    try:
        _launch(client, 1.5, {"window": "busy-probe", "idle": 0.2, "timeout": 30})
        assert client.execute(["cat", "~/busy-done"])["output"] == "done"
    finally:
        _close(client)


def test_a_window_alone_is_ready_while_the_app_still_works(client: ControllerClient) -> None:
    try:
        _launch(client, 3.0, {"window": "busy-probe", "timeout": 30})
        assert client.execute(["test", "-e", "~/busy-done"])["returncode"] != 0
    finally:
        _close(client)


def test_an_app_that_never_stops_working_fails_the_step_naming_it(client: ControllerClient) -> None:
    try:
        with pytest.raises(SetupError, match=r"still busy after 2 s \(python3 running\)"):
            _launch(client, -1, {"window": "busy-probe", "idle": 0.2, "timeout": 2})
    finally:
        _close(client)


# a Tk app that shows a splash screen (EWMH type splash) for a second and a half, then its window, and works a second
# and a half more before it marks its start done, as GIMP does
SPLASH_APP = """
import pathlib, time, tkinter
root = tkinter.Tk()
root.withdraw()
splash = tkinter.Toplevel(root)
splash.title("splash-probe")
splash.attributes("-type", "splash")


def main():
    splash.destroy()
    root.title("main-probe")
    root.deiconify()
    root.update()
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        pass
    pathlib.Path.home().joinpath("splash-done").write_text("done")


root.after(1500, main)
root.mainloop()
"""


def test_a_launch_waits_past_the_apps_splash_screen_for_its_window(client: ControllerClient) -> None:
    client.upload("~/splash_probe.py", SPLASH_APP.encode())
    command = ["python3", "~/splash_probe.py"]
    try:
        client.launch(command)
        deadline = time.monotonic() + 20
        while not (splash := [w for w in client.windows() if w["title"] == "splash-probe"]):
            assert time.monotonic() < deadline, client.windows()
            time.sleep(0.05)
        assert splash[0]["type"] == "splash"
        client.execute(["pkill", "-f", "splash_probe.py"])
        client.execute(["rm", "-f", "~/splash-done"])
        SetupRunner(client).run([{"type": "launch", "parameters": {"command": command}}])
        windows = client.windows()
        assert any(w["title"] == "main-probe" for w in windows), windows  # not just the splash
        assert client.execute(["cat", "~/splash-done"])["output"] == "done"  # and the app has finished starting
    finally:
        client.execute(["pkill", "-f", "splash_probe.py"])


@pytest.mark.skipif(shutil.which("soffice") is None, reason="needs LibreOffice")
def test_a_libreoffice_task_starts_on_the_same_screen_every_episode() -> None:
    """LibreOffice redraws its ruler and controls on timers after loading: the task's ``idle`` rule outlasts them,
    so the first observation never catches a half-updated window."""
    env = DesktopEnv(task="writer-write-list")
    try:
        screens = [env.reset(seed=0)[0]["screenshot"] for _ in range(3)]
        time.sleep(1.0)
        screens.append(env.client.screenshot())  # and nothing changed after the last reset's observation
    finally:
        env.close()
    assert all((screen == screens[0]).all() for screen in screens[1:])
