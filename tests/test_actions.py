"""One action set per dialect: replies written the way each model family writes them, read into env actions.

The cases follow each family's published output format: Qwen2-VL points on a 0-1000 grid, Qwen2.5-VL's
`computer_use` tool calls in pixels of the resized screenshot, UI-TARS v1's `Thought: ... Action: click(start_box=
'(x,y)')` on the 0-1000 grid (also with `<|box_start|>` markup and boxes), and UI-TARS-1.5's `<point>x y</point>` in
resized-image pixels.
"""

import json

import pytest

from step_envs.actions import (
    DIALECTS,
    PARSERS,
    ActionSet,
    action_points,
    parse_pyautogui,
    parse_reply,
    smart_resize,
)
from step_envs.actions.frames import to_screen

SCREEN = (1280, 720)
IMAGE = smart_resize(*SCREEN)  # what a Qwen2.5-VL / UI-TARS-1.5 server resizes a 1280x720 screenshot to
CLICK_CENTER = "pyautogui.click(640, 360, button='left', clicks=1)"


def test_the_resized_image_follows_the_qwen_processor_rule():
    assert IMAGE == (1288, 728)
    assert smart_resize(854, 480) == (840, 476)
    assert smart_resize(1280, 720, max_pixels=409600) == (840, 476)  # scaled down, floored to the 28 px grid
    assert smart_resize(10, 10) == (56, 56)  # scaled up to min_pixels


@pytest.mark.parametrize(
    ("dialect", "reply", "action"),
    [
        # Qwen2-VL: pyautogui code on the 0-1000 grid
        ("qwen2vl", "pyautogui.click(500, 500)", "pyautogui.click(640, 360)"),
        ("qwen2vl", "I will press the button.\n```python\npyautogui.doubleClick(250, 1000)\n```",
         "pyautogui.doubleClick(320, 719)"),
        ("qwen2vl", '{"action_type": "CLICK", "x": 0.25, "y": 0.5}', "pyautogui.click(320, 360, button='left', clicks=1)"),
        # Qwen2.5-VL: computer_use tool calls in pixels of the 1288x728 image it saw
        ("qwen25vl", '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", '
                     '"coordinate": [644, 364]}}\n</tool_call>', CLICK_CENTER),
        ("qwen25vl", '<tool_call>{"name": "computer_use", "arguments": {"action": "right_click", '
                     '"coordinate": [1288, 728]}}</tool_call>', "pyautogui.rightClick(1279, 719)"),
        ("qwen25vl", '<tool_call>{"name": "computer_use", "arguments": {"action": "type", "text": "hello"}}</tool_call>',
         "pyautogui.write('hello')"),
        ("qwen25vl", '<tool_call>{"name": "computer_use", "arguments": {"action": "key", "keys": ["ctrl", "s"]}}'
                     "</tool_call>", "pyautogui.hotkey('ctrl', 's')"),
        ("qwen25vl", '<tool_call>{"name": "computer_use", "arguments": {"action": "terminate", "status": "success"}}'
                     "</tool_call>", "DONE"),
        ("qwen25vl", "pyautogui.click(644, 364)", "pyautogui.click(640, 360)"),
        # UI-TARS v1 (UI-TARS-7B-DPO): Thought / Action on the 0-1000 grid
        ("uitars", "Thought: The OK button is in the middle.\nAction: click(start_box='(500,500)')", CLICK_CENTER),
        ("uitars", "Thought: ...\nAction: click(start_box='<|box_start|>(500,500)<|box_end|>')", CLICK_CENTER),
        ("uitars", "Action: click(start_box='[450, 450, 550, 550]')", CLICK_CENTER),
        ("uitars", "Action: left_double(start_box='(250,500)')", "pyautogui.doubleClick(320, 360)"),
        ("uitars", "Action: right_single(start_box='(250,500)')", "pyautogui.rightClick(320, 360)"),
        ("uitars", "Action: drag(start_box='(100,100)', end_box='(200,300)')",
         "pyautogui.moveTo(128, 72)\npyautogui.dragTo(256, 216, duration=0.2, button='left')"),
        ("uitars", "Action: hotkey(key='ctrl c')", "pyautogui.hotkey('ctrl', 'c')"),
        ("uitars", "Action: hotkey(key='enter')", "pyautogui.press('enter')"),
        ("uitars", "Action: type(content='hello world')", "pyautogui.write('hello world')"),
        ("uitars", "Action: type(content='query\\n')", "pyautogui.write('query')\npyautogui.press('enter')"),
        ("uitars", "Action: scroll(start_box='(500,500)', direction='down')",
         "pyautogui.moveTo(640, 360)\npyautogui.vscroll(-5)\npyautogui.hscroll(0)"),
        ("uitars", "Thought: the page is loading.\nAction: wait()", "WAIT"),
        ("uitars", "Thought: done.\nAction: finished()", "DONE"),
        ("uitars", "Thought: I cannot do this.\nAction: call_user()", "FAIL"),
        # UI-TARS-1.5: <point>x y</point> in pixels of the resized image
        ("uitars15", "Thought: click it\nAction: click(point='<point>644 364</point>')", CLICK_CENTER),
        ("uitars15", "Action: click(start_box='(644,364)')", CLICK_CENTER),
        ("uitars15", "Action: finished(content='The file is saved.')", "DONE"),
        # the screen-pixel dialects
        ("pyautogui", "```python\npyautogui.click(640, 360)\n```", "pyautogui.click(640, 360)"),
        ("computer_13", '{"action_type": "CLICK", "x": 640, "y": 360}', CLICK_CENTER),
    ],
)
def test_each_model_family_is_read_into_the_env_action(dialect, reply, action):
    parsed = parse_reply(reply, dialect=dialect, action_space="pyautogui", screen_size=SCREEN, image_size=IMAGE)
    assert parsed.error is None
    assert parsed.action == action


def test_the_issue_example_clicks_the_screen_center():
    parsed = parse_reply("Thought: ...\nAction: click(start_box='(500,500)')", dialect="uitars", screen_size=SCREEN)
    (point,) = action_points(parsed.action)
    assert (point.type, point.x, point.y) == ("CLICK", 640.0, 360.0)


@pytest.mark.parametrize(
    ("dialect", "reply", "error"),
    [
        ("pyautogui", "Thought: ...\nAction: click(start_box='(500,500)')", "dialect 'pyautogui'"),
        ("qwen2vl", "Action: click(start_box='(500,500)')", "dialect 'qwen2vl'"),
        ("uitars", "```python\npyautogui.click(10, 10)\n```", "dialect 'uitars'"),
        ("uitars", "DONE", "dialect 'uitars'"),
        ("uitars", "Action: teleport(start_box='(1,1)')", "unknown UI-TARS action 'teleport'"),
        ("uitars", "Action: click()", "click needs start_box='(x,y)'"),
        ("uitars", "Action: click(start_box='(1200,10)')", "outside 0-1000"),
        ("uitars", "Action: scroll(direction='sideways')", "scroll direction 'sideways'"),
        ("uitars15", "Action: click(point='<point>2000 10</point>')", "outside the 1288x728 image"),
        ("uitars", "", "empty reply"),
    ],
)
def test_a_reply_in_the_wrong_dialect_or_unreadable_is_a_wait_naming_the_dialect(dialect, reply, error):
    parsed = parse_reply(reply, dialect=dialect, screen_size=SCREEN, image_size=IMAGE)
    assert parsed.action == "WAIT"
    assert error in parsed.error
    assert f"dialect {dialect!r}" in parsed.error


def test_a_uitars_action_with_trailing_prose_still_runs():
    parsed = parse_reply("Action: click(start_box='(500,500)')\nThat should open it.", dialect="uitars")
    assert parsed.action == CLICK_CENTER


def test_dialects_drive_the_computer13_space_too():
    parsed = parse_reply("Action: drag(start_box='(100,100)', end_box='(200,300)')", dialect="uitars",
                         action_space="computer_13")
    assert [json.loads(a) for a in parsed.actions] == [{"action_type": "MOVE_TO", "x": 128, "y": 72},
                                                      {"action_type": "DRAG_TO", "x": 256, "y": 216}]
    assert ActionSet("computer_13").space == "computer_13"
    assert ActionSet("uitars").space == "pyautogui"


def test_bad_dialects_and_missing_image_sizes_are_errors_that_list_what_is_valid():
    with pytest.raises(ValueError, match="unknown dialect 'qwen3'; known: pyautogui, computer_13, qwen2vl, qwen25vl, "
                                         "uitars, uitars15"):
        ActionSet("qwen3")
    with pytest.raises(ValueError, match="unknown action space 'mouse'"):
        ActionSet("uitars", "mouse")
    with pytest.raises(ValueError, match="image_size"):
        parse_reply("Action: click(point='<point>1 1</point>')", dialect="uitars15")
    with pytest.raises(ValueError, match="image_size"):
        ActionSet("qwen25vl").describe(SCREEN)


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_the_prompt_names_the_frame_and_the_examples_parse(dialect):
    actions = ActionSet(dialect)
    text = actions.describe(SCREEN, IMAGE)
    frame = {"screen": "1280x720 screen", "grid": "0-1000", "image": "1288x728 screenshot"}[actions.dialect.frame]
    assert frame in text
    assert actions.expected().endswith(f"(dialect {dialect!r})")


@pytest.mark.parametrize("dialect", list(DIALECTS))
@pytest.mark.parametrize("action", [
    "pyautogui.click(640, 360, button='left', clicks=1)",
    "pyautogui.rightClick(320, 180)",
    "pyautogui.doubleClick(1000, 700)",
    "pyautogui.write('hi there')",
    "pyautogui.hotkey('ctrl', 's')",
    "DONE",
])
def test_history_is_written_in_the_dialect_and_reads_back_to_the_same_screen_point(dialect, action):
    actions = ActionSet(dialect)
    if actions.space != "pyautogui":
        return
    rendered = actions.render(action, SCREEN, IMAGE)
    back = actions.parse(rendered, SCREEN, IMAGE)
    assert back.error is None, rendered
    original, read = action_points(action), action_points(back.action)
    assert [(p.type, p.text) for p in read] == [(p.type, p.text) for p in original]
    for p, q in zip(original, read, strict=True):
        if p.x is not None:  # the grid and the image lose a pixel or two in each direction
            assert abs(p.x - q.x) <= 2 and abs(p.y - q.y) <= 2


def test_uitars_history_reads_like_uitars():
    assert ActionSet("uitars").render("pyautogui.click(640, 360)", SCREEN) == "click(start_box='(500,500)')"
    assert ActionSet("qwen2vl").render("pyautogui.click(640, 360)", SCREEN) == "pyautogui.click(500, 500)"
    assert ActionSet("uitars").render("print('not an action')", SCREEN) == "print('not an action')"


def test_the_env_checks_every_point_the_parser_scales():
    # the parser and the env share one list of point-taking functions (leftClick and scroll points included)
    assert parse_pyautogui("pyautogui.leftClick(5000, 1)", *SCREEN).error.startswith("leftClick(5000, 1) is outside")
    assert "outside" in parse_pyautogui("pyautogui.scroll(-3, 5000, 1)", *SCREEN).error
    assert parse_pyautogui("pyautogui.scroll(-3, 100, 100)", *SCREEN).error is None
    assert parse_reply("pyautogui.leftClick((1000, 1000))", dialect="qwen2vl").action == "pyautogui.leftClick((1279, 719))"


def test_every_dialect_produces_actions_the_env_accepts():
    replies = {"uitars": "Action: click(start_box='(10,10)')", "uitars15": "Action: click(point='<point>10 10</point>')"}
    for dialect in DIALECTS:
        actions = ActionSet(dialect)
        parsed = actions.parse(replies.get(dialect, "pyautogui.click(10, 10)"), SCREEN, IMAGE)
        assert parsed.error is None
        assert PARSERS[actions.space](parsed.action, *SCREEN).error is None
        assert actions.to_code(parsed.action, SCREEN).startswith(("pyautogui.", "DONE", "WAIT"))


def test_image_points_scale_by_the_image_to_screen_ratio():
    assert to_screen(644, 364, "image", SCREEN, IMAGE) == (640, 360)
    assert to_screen(0, 0, "image", SCREEN, IMAGE) == (0, 0)
