"""AndroidWorld JSON actions: validation, and the exact adb command each one becomes."""

from __future__ import annotations

import pytest

from step_envs.android.actions import (
    ACTION_TYPES,
    APP_INTENTS,
    ActionError,
    Gesture,
    adb_commands,
    parse_action,
    plan,
)
from step_envs.android.ui import parse_hierarchy, render_tree

SCREEN = (1080, 2400)
DUMP = """UI hierchary dumped to: /dev/tty<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<hierarchy rotation="0"><node index="0" text="" class="android.widget.FrameLayout" package="com.android.settings"
 content-desc="" clickable="false" bounds="[0,0][1080,2400]">
<node index="0" text="Network &amp; internet" resource-id="android:id/title" class="android.widget.TextView"
 package="com.android.settings" content-desc="" clickable="true" bounds="[0,400][1080,600]" />
<node index="1" text="" class="androidx.recyclerview.widget.RecyclerView" package="com.android.settings"
 content-desc="" scrollable="true" bounds="[0,300][1080,2200]" />
<node index="2" text="" class="android.widget.EditText" package="com.android.settings" content-desc="Search"
 clickable="true" focused="true" bounds="[100,100][980,200]" />
<node index="3" text="hidden" class="android.widget.TextView" bounds="[10,10][10,10]" />
</node></hierarchy>"""
ELEMENTS = parse_hierarchy(DUMP)


def sh(*args: str) -> list[str]:
    return ["shell", *args]


CASES = [
    ({"action_type": "click", "x": 540, "y": 1200}, [sh("input", "tap", "540", "1200")]),
    ({"action_type": "click", "index": 0}, [sh("input", "tap", "540", "500")]),
    ({"action_type": "double_tap", "x": 10, "y": 20}, [sh("input", "tap", "10", "20")] * 2),
    ({"action_type": "long_press", "index": 2}, [sh("input", "swipe", "540", "150", "540", "150", "1000")]),
    ({"action_type": "input_text", "text": "Ada Lovelace", "index": 2},
     [sh("input", "tap", "540", "150"), sh("input", "text", "Ada%sLovelace"), sh("input", "keyevent", "KEYCODE_ENTER")]),
    ({"action_type": "input_text", "text": "it's\nok", "clear_text": True},
     [sh("input", "keycombination", "KEYCODE_CTRL_LEFT", "KEYCODE_A"), sh("input", "keyevent", "KEYCODE_DEL"),
      sh("input", "text", "'it'\"'\"'s'"), sh("input", "keyevent", "KEYCODE_ENTER"), sh("input", "text", "ok"),
      sh("input", "keyevent", "KEYCODE_ENTER")]),
    ({"action_type": "scroll", "direction": "down"}, [sh("input", "swipe", "539", "1199", "539", "0", "500")]),
    ({"action_type": "scroll", "direction": "up", "index": 1},
     [sh("input", "swipe", "539", "1250", "539", "2200", "500")]),
    ({"action_type": "scroll", "direction": "left"}, [sh("input", "swipe", "539", "1199", "1079", "1199", "500")]),
    ({"action_type": "scroll", "direction": "right"}, [sh("input", "swipe", "539", "1199", "0", "1199", "500")]),
    ({"action_type": "swipe", "direction": "down"}, [sh("input", "swipe", "540", "0", "540", "2399", "500")]),
    ({"action_type": "swipe", "direction": "left"}, [sh("input", "swipe", "0", "1200", "1079", "1200", "500")]),
    ({"action_type": "navigate_home"}, [sh("input", "keyevent", "KEYCODE_HOME")]),
    ({"action_type": "navigate_back"}, [sh("input", "keyevent", "KEYCODE_BACK")]),
    ({"action_type": "keyboard_enter"}, [sh("input", "keyevent", "KEYCODE_ENTER")]),
    ({"action_type": "open_app", "app_name": "Settings"}, [sh("am", "start", "-a", "android.settings.SETTINGS")]),
    ({"action_type": "open_app", "app_name": "contacts"},
     [sh("am", "start", "-a", "android.intent.action.MAIN", "-c", "android.intent.category.APP_CONTACTS")]),
    ({"action_type": "open_app", "app_name": "Alarm"}, [sh("am", "start", "-a", "android.intent.action.SHOW_ALARMS")]),
    ({"action_type": "open_app", "app_name": "org.example.notes"},
     [sh("monkey", "-p", "org.example.notes", "-c", "android.intent.category.LAUNCHER", "1")]),
    ({"action_type": "wait"}, []),
    ({"action_type": "status", "goal_status": "complete"}, []),
    ({"action_type": "answer", "text": "14"}, []),
]


@pytest.mark.parametrize("action, commands", CASES, ids=[f"{c[0]['action_type']}-{i}" for i, c in enumerate(CASES)])
def test_each_action_becomes_its_adb_command(action: dict, commands: list[list[str]]) -> None:
    parsed = parse_action(action)
    assert adb_commands(plan(parsed, ELEMENTS, SCREEN)) == commands
    assert parse_action(parsed.to_json()) == parsed  # JSON round trip


def test_every_action_type_is_covered() -> None:
    assert {case[0]["action_type"] for case in CASES} == set(ACTION_TYPES)
    assert all(parse_action({"action_type": "open_app", "app_name": app}) for app in APP_INTENTS)


@pytest.mark.parametrize("action, fragment", [
    ("{not json", "not valid JSON"),
    ("x" * 10_000, "the limit is"),
    (42, "JSON object"),
    ({"action_type": "teleport"}, "unknown action_type 'teleport'"),
    ({"x": 1}, "unknown action_type None"),
    ({"action_type": "click"}, "needs x and y, or an element index"),
    ({"action_type": "click", "x": 1}, "needs both x and y"),
    ({"action_type": "click", "x": 1, "y": 2, "index": 0}, "either an element index or x, y"),
    ({"action_type": "click", "x": 1.5, "y": 2}, "x must be an integer"),
    ({"action_type": "click", "x": True, "y": 2}, "x must be an integer"),
    ({"action_type": "click", "x": 1, "y": 2, "text": "hi"}, "click takes no text"),
    ({"action_type": "scroll", "direction": "sideways"}, "direction must be one of"),
    ({"action_type": "input_text"}, "needs a text string"),
    ({"action_type": "status", "goal_status": "done"}, "goal_status must be one of complete, infeasible"),
    ({"action_type": "open_app", "app_name": " "}, "needs an app_name"),
    ({"action_type": "input_text", "text": "a", "clear_text": "yes"}, "clear_text must be true or false"),
])
def test_malformed_actions_raise_action_error_with_the_reason(action: object, fragment: str) -> None:
    with pytest.raises(ActionError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_action(action)


@pytest.mark.parametrize("action, fragment", [
    ({"action_type": "click", "x": 1080, "y": 5}, "outside the 1080x2400 screen"),
    ({"action_type": "click", "index": 7}, "no element 7 on this screen; the UI tree has 3"),
    ({"action_type": "input_text", "text": "café"}, "only type ASCII"),
    ({"action_type": "open_app", "app_name": "Flappy Bird"}, "unknown app 'Flappy Bird'"),
])
def test_actions_that_do_not_fit_the_screen_raise_action_error(action: dict, fragment: str) -> None:
    with pytest.raises(ActionError, match=fragment):
        plan(parse_action(action), ELEMENTS, SCREEN)
    assert "the UI tree is empty" in _error({"action_type": "click", "index": 0}, [])


def _error(action: dict, elements: list) -> str:
    with pytest.raises(ActionError) as caught:
        plan(parse_action(action), elements, SCREEN)
    return str(caught.value)


def test_ui_tree_lists_visible_actionable_elements_with_indices() -> None:
    assert [element.index for element in ELEMENTS] == [0, 1, 2]
    assert render_tree(ELEMENTS).splitlines() == [
        '[0] TextView "Network & internet" id=android:id/title center=(540,500) clickable',
        "[1] RecyclerView center=(540,1250) scrollable",
        '[2] EditText desc="Search" center=(540,150) clickable focused',
    ]


def test_gestures_are_pixels_on_the_screen() -> None:
    gesture = plan(parse_action({"action_type": "long_press", "x": 5, "y": 6}), [], SCREEN)[0]
    assert gesture == Gesture("long_press", (5, 6), (5, 6), 1000)
