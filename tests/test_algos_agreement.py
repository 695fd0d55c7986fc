"""The small action parser and agreement score used by step-level GRPO augmentation."""

import pytest

from step_envs.actions import ActionPoint, action_points
from step_train.algos import actions_agree, element_boxes, normalize_text, screen_tolerance

DELTA = screen_tolerance((1920, 1080), 0.05)


def test_screen_tolerance_is_a_fraction_of_the_diagonal():
    assert DELTA == pytest.approx(0.05 * 2202.9071)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("pyautogui.click(100, 200)", ActionPoint("CLICK", 100.0, 200.0)),
        ("pyautogui.click(x=100, y=200)", ActionPoint("CLICK", 100.0, 200.0)),
        ("pyautogui.click((100, 200))", ActionPoint("CLICK", 100.0, 200.0)),
        ("pyautogui.click()", ActionPoint("CLICK")),
        ("pyautogui.click(5, 6, button='right')", ActionPoint("RIGHT_CLICK", 5.0, 6.0)),
        ("pyautogui.click(5, 6, clicks=2)", ActionPoint("DOUBLE_CLICK", 5.0, 6.0)),
        ("pyautogui.doubleClick(5.5, 6)", ActionPoint("DOUBLE_CLICK", 5.5, 6.0)),
        ("pyautogui.moveTo(1, 2, duration=0.5)", ActionPoint("MOVE_TO", 1.0, 2.0)),
        ("pyautogui.typewrite('hello')", ActionPoint("TYPING", text="hello")),
        ("pyautogui.write(message='hi there')", ActionPoint("TYPING", text="hi there")),
        ("pyautogui.typewrite(['a', 'b'])", ActionPoint("TYPING", text="ab")),
        ("pyautogui.hotkey('ctrl', 's')", ActionPoint("HOTKEY", text="ctrl+s")),
        ("pyautogui.press('enter')", ActionPoint("PRESS", text="enter")),
        ("pyautogui.press(['tab', 'tab'])", ActionPoint("PRESS", text="tab+tab")),
        ("pyautogui.scroll(-3)", ActionPoint("SCROLL", text="-3")),
        ("pyautogui.scroll(5, x=10, y=20)", ActionPoint("SCROLL", 10.0, 20.0, "5")),
        ('{"action_type": "CLICK", "x": 100, "y": 200}', ActionPoint("CLICK", 100.0, 200.0)),
        ('{"action_type": "TYPING", "parameters": {"text": "Hi"}}', ActionPoint("TYPING", text="Hi")),
        ('{"action_type": "HOTKEY", "keys": ["ctrl", "c"]}', ActionPoint("HOTKEY", text="ctrl+c")),
        ('{"action_type": "SCROLL", "dy": -2}', ActionPoint("SCROLL", text="0,-2")),
        (" done ", ActionPoint("DONE")),
        ("WAIT", ActionPoint("WAIT")),
    ],
)
def test_parse_action_reads_type_point_and_text(action, expected):
    assert action_points(action) == (expected,)


def test_parse_action_keeps_several_calls_in_order_and_ignores_other_code():
    code = "import time\npyautogui.click(1, 2)\ntime.sleep(0.5)\npyautogui.typewrite('x')"
    assert action_points(code) == (ActionPoint("CLICK", 1.0, 2.0), ActionPoint("TYPING", text="x"))
    assert action_points('[{"action_type": "CLICK", "x": 1, "y": 2}, {"action_type": "DONE"}]') == (
        ActionPoint("CLICK", 1.0, 2.0),
        ActionPoint("DONE"),
    )


@pytest.mark.parametrize(
    "action",
    [
        "",
        "click here",
        "pyautogui.click(",
        "pyautogui.click(x, 200)",
        "pyautogui.click('a', 'b')",
        '{"x": 1}',
        "[1, 2]",
        "print(1)",
    ],
)
def test_unreadable_actions_parse_to_none(action):
    assert action_points(action) is None


def test_normalize_text_folds_case_and_whitespace():
    assert normalize_text("  Hello \t  World\n") == "hello world"


@pytest.mark.parametrize(
    ("candidate", "reference", "agree"),
    [
        ("pyautogui.click(100, 200)", "pyautogui.click(100, 200)", True),
        ("pyautogui.click(180, 260)", "pyautogui.click(100, 200)", True),  # distance 100 <= 110.1
        ("pyautogui.click(190, 270)", "pyautogui.click(100, 200)", False),  # distance 114 > 110.1
        ("pyautogui.doubleClick(100, 200)", "pyautogui.click(100, 200)", False),
        ("pyautogui.click()", "pyautogui.click(100, 200)", False),
        ("pyautogui.typewrite('Hello  World ')", "pyautogui.typewrite('hello world')", True),
        ("pyautogui.typewrite('hello!')", "pyautogui.typewrite('hello')", False),
        ("pyautogui.hotkey('CTRL', 's')", "pyautogui.hotkey('ctrl', 's')", True),
        ("pyautogui.hotkey('s', 'ctrl')", "pyautogui.hotkey('ctrl', 's')", False),
        ("pyautogui.click(1, 1)\npyautogui.typewrite('a')", "pyautogui.click(1, 1)", False),
        (
            '{"action_type": "CLICK", "x": 130, "y": 200}',
            '{"action_type": "CLICK", "x": 100, "y": 200}',
            True,
        ),
        ("DONE", "done", True),
        ("FAIL", "DONE", False),
        ("garbage", "garbage", False),
    ],
)
def test_actions_agree_on_type_point_and_text(candidate, reference, agree):
    assert actions_agree(candidate, reference, DELTA) is agree


# a dropdown's open list: rows 30 px apart inside a list box, and a button elsewhere (the widget app's spacing)
NS = ('xmlns:st="https://accessibility.ubuntu.example.org/ns/state" '
      'xmlns:cp="https://accessibility.ubuntu.example.org/ns/component"')
SHOWN = 'st:showing="true" st:visible="true"'
ROWS = "".join(f'<menu-item name="Option {i}" {SHOWN} cp:screencoord="(100, {200 + 30 * i})" cp:size="(160, 30)" />'
               for i in range(4))
TREE = (f'<desktop-frame {NS} name="main"><application name="widgets">'
        f'<list name="Options" {SHOWN} cp:screencoord="(90, 190)" cp:size="(180, 140)">Options{ROWS}</list>'
        f'<push-button name="Save" {SHOWN} cp:screencoord="(600, 400)" cp:size="(100, 40)" /></application>'
        "</desktop-frame>")
SCREEN = (1280, 720)


def test_on_the_tree_two_clicks_agree_when_they_hit_the_same_element():
    elements = element_boxes(TREE, SCREEN)
    assert len(elements) == 6  # the list (it has text), four rows, the button
    wide = screen_tolerance(SCREEN, 0.05)  # 73 px: a pixel radius would take the next row and the one after
    # the row's two ends, 150 px apart, are one element; the next row's centre, 30 px away, is another
    assert actions_agree("pyautogui.click(105, 265)", "pyautogui.click(255, 265)", wide, elements)
    assert not actions_agree("pyautogui.click(180, 245)", "pyautogui.click(180, 275)", wide, elements)
    assert actions_agree("pyautogui.click(180, 245)", "pyautogui.click(180, 275)", wide)  # what pixels said
    assert actions_agree("pyautogui.click(610, 405)", "pyautogui.click(690, 435)", wide, elements)
    # outside every element: the pixel rule; one inside, one outside: never
    assert actions_agree("pyautogui.click(1000, 100)", "pyautogui.click(1010, 100)", 14.7, elements)
    assert not actions_agree("pyautogui.click(1000, 100)", "pyautogui.click(1030, 100)", 14.7, elements)
    assert not actions_agree("pyautogui.click(600, 399)", "pyautogui.click(600, 401)", wide, elements)
    assert element_boxes(None, SCREEN) == [] and element_boxes("not xml", SCREEN) == []


def test_the_default_tolerance_is_wider_than_a_widget_row_and_the_widget_one_is_not():
    assert screen_tolerance(SCREEN, 0.05) > 30 > 2 * screen_tolerance(SCREEN, 0.01)
