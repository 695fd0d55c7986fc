"""The shared reply parser: messy model output in, one executable action (or a clear error) out."""

import json

import pytest

from step_envs.actions import PARSERS, ParsedReply, parse_reply, pyautogui_calls
from step_envs.actions.frames import to_screen


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        ("pyautogui.click(100, 200)", "pyautogui.click(100, 200)"),
        ("```python\npyautogui.click(100, 200)\n```", "pyautogui.click(100, 200)"),
        ("```\npyautogui.click(100, 200)\n```", "pyautogui.click(100, 200)"),
        ("```py\nimport pyautogui\npyautogui.click(100, 200)", "import pyautogui\npyautogui.click(100, 200)"),
        ("```pyautogui.press('enter')```", "pyautogui.press('enter')"),
        ("I see the Save button at the top.\n```python\npyautogui.click(100, 200)\n```\nThis saves the file.",
         "pyautogui.click(100, 200)"),
        ("Thought: the menu is closed. Action: pyautogui.hotkey('ctrl', 's') and we are done",
         "pyautogui.hotkey('ctrl', 's')"),
        ("import pyautogui\npyautogui.click(10, 20)\npyautogui.write('hi')",
         "import pyautogui\npyautogui.click(10, 20)\npyautogui.write('hi')"),
    ],
)
def test_pyautogui_code_is_found_in_fences_and_prose(reply, action):
    parsed = parse_reply(reply)
    assert parsed.error is None
    assert parsed.action == action


def test_a_code_block_with_several_calls_is_one_action():
    parsed = parse_reply("```python\npyautogui.click(1, 2)\npyautogui.write('x')\n```")
    assert parsed.action == "pyautogui.click(1, 2)\npyautogui.write('x')"
    assert parsed.actions == [parsed.action]


def test_several_actions_execute_the_first_and_list_all_in_order():
    reply = "```python\npyautogui.click(10, 10)\n```\nthen\n```python\npyautogui.write('x')\n```\nand DONE"
    parsed = parse_reply(reply)
    assert parsed.action == "pyautogui.click(10, 10)"
    assert parsed.actions == ["pyautogui.click(10, 10)", "pyautogui.write('x')"]  # prose beside blocks is talk
    prose = parse_reply("First pyautogui.click(5, 5), then pyautogui.press('enter').")
    assert prose.actions == ["pyautogui.click(5, 5)", "pyautogui.press('enter')"]


def test_a_control_line_after_code_is_its_own_action():
    parsed = parse_reply("pyautogui.click(1, 2)\nDONE")
    assert parsed.actions == ["pyautogui.click(1, 2)", "DONE"]


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        ("DONE", "DONE"),
        ("  wait\n", "WAIT"),
        ("The file is saved, so the task is DONE.", "DONE"),
        ("I cannot do this: there is no such setting. FAIL", "FAIL"),
        ("The page is still loading, I will WAIT.", "WAIT"),
        ("```\nFAIL\n```", "FAIL"),
        ("```DONE```", "DONE"),
        ('{"action_type": "DONE"}', "DONE"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "terminate", "status": "success"}}'
         "</tool_call>", "DONE"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "terminate", "status": "failure"}}'
         "</tool_call>", "FAIL"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "wait"}}</tool_call>', "WAIT"),
    ],
)
def test_control_actions_in_prose_blocks_and_json(reply, action):
    assert parse_reply(reply) == ParsedReply(action, None, [action])


def test_lowercase_done_in_a_sentence_is_not_an_action():
    assert parse_reply("Once done with the menu, look again.").error is not None


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        ('{"action_type": "CLICK", "x": 10, "y": 20}', "pyautogui.click(10, 20, button='left', clicks=1)"),
        ('Action:\n```json\n{"action_type": "TYPING", "text": "hello"}\n```', "pyautogui.write('hello')"),
        ('I will type. {"action_type": "TYPING", "parameters": {"text": "hi"}} now', "pyautogui.write('hi')"),
        ('{"action_type": "HOTKEY", "keys": ["ctrl", "c"]}', "pyautogui.hotkey('ctrl', 'c')"),
        ('<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [50, 60]}}\n'
         "</tool_call>", "pyautogui.click(50, 60, button='left', clicks=1)"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "type", "text": "abc"}}</tool_call>',
         "pyautogui.write('abc')"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "key", "keys": ["ctrl", "s"]}}</tool_call>',
         "pyautogui.hotkey('ctrl', 's')"),
        ('<tool_call>{"name": "computer_use", "arguments": "{\\"action\\": \\"double_click\\", '
         '\\"coordinate\\": [7, 8]}"}</tool_call>', "pyautogui.doubleClick(7, 8)"),
    ],
)
def test_json_actions_become_pyautogui_code(reply, action):
    parsed = parse_reply(reply)
    assert parsed.error is None
    assert parsed.action == action


def test_a_computer13_list_gives_one_action_per_item():
    parsed = parse_reply('[{"action_type": "CLICK", "x": 1, "y": 2}, {"action_type": "DONE"}]')
    assert parsed.actions == ["pyautogui.click(1, 2, button='left', clicks=1)", "DONE"]


def test_the_computer13_space_gets_json_from_code_and_from_json():
    parsed = parse_reply("```python\npyautogui.click(100, 200)\npyautogui.hotkey('ctrl', 's')\n```",
                         action_space="computer_13")
    assert [json.loads(a) for a in parsed.actions] == [
        {"action_type": "CLICK", "x": 100, "y": 200, "button": "left", "num_clicks": 1},
        {"action_type": "HOTKEY", "keys": ["ctrl", "s"]},
    ]
    assert json.loads(parse_reply('{"action_type": "PRESS", "key": "enter"}', "computer_13").action) == {
        "action_type": "PRESS", "key": "enter"}
    assert parse_reply("DONE", "computer_13").action == "DONE"
    assert parse_reply("pyautogui.locateOnScreen('a.png')", "computer_13").error == (
        "pyautogui.locateOnScreen has no computer_13 equivalent (dialect 'computer_13')")


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        ("pyautogui.click(0.5, 0.25)", "pyautogui.click(640, 180)"),  # fractions of the screen
        ("pyautogui.click(500, 250)", "pyautogui.click(640, 180)"),  # Qwen's 0-1000 grid
        ("pyautogui.click(1.0, 1.0)", "pyautogui.click(1279, 719)"),  # clamped to the last pixel
        ("pyautogui.click(x=0.5, y=0.5)", "pyautogui.click(x=640, y=360)"),
        ("pyautogui.moveTo((1000, 0))", "pyautogui.moveTo((1279, 0))"),
        ("pyautogui.scroll(-3, 0.5, 0.5)", "pyautogui.scroll(-3, 640, 360)"),
        ("pyautogui.write('0.5')\npyautogui.press('enter')", "pyautogui.write('0.5')\npyautogui.press('enter')"),
        ('{"action_type": "CLICK", "x": 0.25, "y": 0.5}', "pyautogui.click(320, 360, button='left', clicks=1)"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "mouse_move", "coordinate": [250, 500]}}'
         "</tool_call>", "pyautogui.moveTo(320, 360)"),
    ],
)
def test_qwen2vl_grid_points_are_scaled_to_the_screen(reply, action):
    parsed = parse_reply(reply, screen_size=(1280, 720), dialect="qwen2vl")
    assert parsed.error is None
    assert parsed.action == action


def test_absolute_coordinates_are_kept_as_written():
    assert parse_reply("pyautogui.click(500, 250)").action == "pyautogui.click(500, 250)"
    assert parse_reply("pyautogui.click(0.5, 0.25)").action == "pyautogui.click(0.5, 0.25)"


@pytest.mark.parametrize(
    ("reply", "kwargs", "error"),
    [
        ("", {}, "empty reply"),
        ("I am not sure what to do here.", {}, "no action found"),
        ("```python\npyautogui.click(\n```", {}, "does not parse"),
        ("```python\nprint('hello')\n```", {}, "calls no pyautogui function"),
        ("```python\npyautogui.click(1, 2)\x00\n```", {}, "does not parse"),  # random models write NUL bytes
        ("pyautogui.click(5000, 10)", {}, "outside the 1280x720 screen"),
        ('{"action_type": "FLY", "x": 1}', {}, "unknown action_type"),
        ('{"x": 1, "y": 2}', {}, "names no action"),
        ('{"action_type": "CLICK", "x": 1', {}, "does not parse"),
        ('{"action_type": "PRESS"}', {}, "missing parameter"),
        ("pyautogui.click(1200, 10)", {"dialect": "qwen2vl"}, "outside 0-1000"),
        ("pyautogui.click(x, 0.5)", {"dialect": "qwen2vl"}, "must be a number"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "teleport"}}</tool_call>', {},
         "unknown computer_use action"),
    ],
)
def test_garbage_is_an_error_and_a_wait(reply, kwargs, error):
    parsed = parse_reply(reply, **kwargs)
    assert parsed.action == "WAIT"
    assert error in parsed.error


def test_the_first_candidate_decides_even_when_a_later_one_is_valid():
    parsed = parse_reply("```python\npyautogui.click(9999, 1)\n```\n```python\npyautogui.click(1, 1)\n```")
    assert parsed.action == "WAIT" and "outside" in parsed.error
    assert parsed.actions == ["pyautogui.click(1, 1)"]


def test_bad_arguments_raise_instead_of_guessing():
    with pytest.raises(ValueError, match="unknown action space 'mouse'; known: pyautogui, computer_13"):
        parse_reply("DONE", action_space="mouse")
    with pytest.raises(ValueError, match="unknown dialect 'pixels'; known: pyautogui, computer_13, qwen2vl"):
        parse_reply("DONE", dialect="pixels")


def test_every_parsed_action_is_accepted_by_the_env():
    replies = ["```python\npyautogui.click(100, 200)\n```", '{"action_type": "SCROLL", "dy": -2}',
               "pyautogui.tripleClick(3, 4)", "pyautogui.press(['tab', 'tab'])", "pyautogui.mouseDown()"]
    for space in PARSERS:
        for reply in replies:
            parsed = parse_reply(reply, action_space=space)
            assert parsed.error is None, (space, reply, parsed.error)
            for action in parsed.actions:
                assert PARSERS[space](action, 1280, 720).error is None


def test_scale_point_and_pyautogui_calls():
    assert to_screen(0.5, 0.5, "grid", (100, 50)) == (50, 25)
    assert to_screen(7, 8, "screen", (100, 50)) == (7, 8)
    calls = pyautogui_calls("import time\npyautogui.click(1, 2)\ntime.sleep(1)\npyautogui.hotkey('a', 'b')")
    assert [(c.name, c.args) for c in calls] == [("click", (1, 2)), ("hotkey", ("a", "b"))]
    with pytest.raises(ValueError):
        pyautogui_calls("pyautogui.click(x, 2)")
