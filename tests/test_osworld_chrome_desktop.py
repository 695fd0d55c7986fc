"""An OSWorld Chrome settings task, as OSWorld writes them, run in the desktop env with the real Chromium: its setup
starts Chrome with DevTools, its postconfig ends Chrome (``pkill chrome``) and starts it again before the getter
reads the profile's ``Preferences``."""


import pytest

from step_envs.checkers import CheckContext
from step_envs.checkers.getters.devtools import run_in_tab
from step_envs.desktop.env import DesktopEnv
from step_envs.tasks.osworld import check_osworld

pytestmark = pytest.mark.desktop
CHROME = [{"type": "launch", "parameters": {"command": ["google-chrome", "--remote-debugging-port=1337"]}},
          {"type": "launch", "parameters": {"command": ["socat", "tcp-listen:9222,fork", "tcp:localhost:1337"]}}]
DO_NOT_TRACK = {  # OSWorld's chrome/030eeff7
    "id": "030eeff7-b492-4218-b312-701ec99ee0cc", "config": CHROME,
    "instruction": "Can you enable the 'Do Not Track' feature in Chrome to enhance my online privacy?",
    "evaluator": {"postconfig": [{"type": "launch", "parameters": {"command": ["pkill", "chrome"]}}, CHROME[0],
                                 {"type": "sleep", "parameters": {"seconds": 3}}],
                  "func": "exact_match", "result": {"type": "enable_do_not_track"},
                  "expected": {"type": "rule", "rules": {"expected": "true"}}}}


def test_a_chrome_settings_task_scores_the_setting_chrome_wrote_when_it_exited(tmp_path):
    loaded = check_osworld(DO_NOT_TRACK, tmp_path / "task.json", "chrome")
    assert loaded.supported and not loaded.network, loaded.unsupported
    env = DesktopEnv(task=loaded.task, max_steps=5)
    try:
        env.reset()
        _, reward, *_ = env.step("DONE")
        assert reward == 0.0
        env.reset()
        ctx = CheckContext(client=env.client, cache_dir=tmp_path / "cache")
        turn_on = "new Promise((done) => chrome.settingsPrivate.setPref('enable_do_not_track', true, '', done))"
        assert run_in_tab(ctx, {"open": "chrome://settings/privacy"}, [["load", 10], ["eval", turn_on]]) == [True]
        _, reward, terminated, _, info = env.step("DONE")
        assert terminated and reward == 1.0, info
    finally:
        env.close()
