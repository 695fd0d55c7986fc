"""The widget app in the accessibility tree, as a real GTK app is: with ``a11y_tree=True`` every widget of a task
is a node with its role, its name and its exact box on screen, so a policy reading the tree finds what the
instruction names and where to click it."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from step_envs.desktop.env import DesktopEnv
from step_envs.tasks import Task
from step_envs.tasks.templates.widgets import widget_task
from step_envs.widgets.app import PROGRAM
from step_envs.widgets.form import Box

pytestmark = pytest.mark.desktop

CP = "{https://accessibility.ubuntu.example.org/ns/component}"
ROLES = {"button": "push-button", "entry": "text", "checkbox": "check-box", "radio": "radio-button",
         "dropdown": "combo-box", "slider": "slider", "counter": "spin-button", "text": "label"}
"""The role each widget kind has in the tree (a masked entry is a ``password-text``)."""


@dataclass(frozen=True)
class Node:
    role: str
    name: str
    box: Box


def app_nodes(xml: str) -> list[Node]:
    """The nodes of the widget app that are on screen (those with a position and a size)."""
    apps = [element for element in ET.fromstring(xml) if element.get("name") == PROGRAM]
    assert len(apps) == 1, f"expected one {PROGRAM!r} application in the tree, got {len(apps)}"
    nodes = []
    for element in apps[0].iter():
        coord, size = element.get(f"{CP}screencoord"), element.get(f"{CP}size")
        if coord and size:
            (x, y), (w, h) = (tuple(int(v) for v in pair.strip("()").split(",")) for pair in (coord, size))
            nodes.append(Node(element.tag, element.get("name", ""), Box(x, y, w, h)))
    return nodes


def spec_nodes(task: Task) -> set[Node]:
    """The nodes the task's spec promises: each widget's role, name and box (a slider's node is its track)."""
    spec: dict[str, Any] = json.loads(task.config[0]["parameters"]["command"][-2])
    nodes = {Node("label", spec["instruction"], Box(16, 0, 760, 64))}
    for widget in spec["widgets"]:
        kind, box = widget["kind"], Box(widget["x"], widget["y"], widget["w"], widget["h"])
        name = widget.get("label") or widget.get("value") or widget.get("text") or widget["key"].partition(":")[2]
        role = "password-text" if widget.get("secret") else ROLES[kind]
        if kind == "slider":
            box = Box(box.x, box.y, 2 * widget["pad"] + (widget["max"] - widget["min"]) * widget["step_px"], box.h)
        nodes.add(Node(role, name, box))
    return nodes


def click_point(action: str) -> tuple[int, int]:
    match = re.fullmatch(r"pyautogui\.click\((\d+), (\d+)\)", action)
    assert match, f"not a click: {action!r}"
    return int(match[1]), int(match[2])


def contains(box: Box, point: tuple[int, int]) -> bool:
    return box.x <= point[0] < box.x + box.w and box.y <= point[1] < box.y + box.h


@pytest.fixture(scope="module")
def env() -> Iterator[DesktopEnv]:
    env = DesktopEnv(max_steps=10, a11y_tree=True)
    yield env
    env.close()


def tree_at_reset(env: DesktopEnv, task: Task) -> list[Node]:
    obs, info = env.reset(options={"task": task})
    assert "env_error" not in info and "a11y_error" not in info, info
    return app_nodes(obs["a11y_tree"])


@pytest.mark.parametrize(("task_id", "role", "param"), [
    ("widget-click-button/3", "push-button", "target"),
    ("widget-choose-radio/2", "radio-button", "value"),
    ("widget-type-text/1", "text", "field"),
])
def test_the_widget_the_instruction_names_is_in_the_tree_around_the_solution_click(
        env: DesktopEnv, task_id: str, role: str, param: str) -> None:
    task = widget_task(task_id)
    name = task.params[param]
    matches = [node for node in tree_at_reset(env, task) if node.role == role and node.name == name]
    assert len(matches) == 1, f"{task_id}: no single {role} named {name!r}: {matches}"
    assert contains(matches[0].box, click_point(task.solution[0])), (task_id, matches[0], task.solution[0])


@pytest.mark.parametrize("task_id", ["widget-settings/2", "widget-settings/4", "widget-fill-form/2", "widget-login/0",
                                     "widget-counter/0", "widget-copy-text/0"])
def test_every_widget_is_in_the_tree_with_its_role_name_and_exact_box(env: DesktopEnv, task_id: str) -> None:
    task = widget_task(task_id)
    missing = spec_nodes(task) - set(tree_at_reset(env, task))
    assert not missing, f"{task_id}: not in the tree as the spec places them: {sorted(missing, key=str)}"


def test_an_open_dropdown_lists_its_options_as_menu_items_under_the_solution_clicks(env: DesktopEnv) -> None:
    task = widget_task("widget-select-option/0")
    nodes = tree_at_reset(env, task)
    combo = [node for node in nodes if node.role == "combo-box" and node.name == task.params["dropdown"]]
    assert len(combo) == 1 and contains(combo[0].box, click_point(task.solution[0])), combo
    assert not [node for node in nodes if node.role == "menu-item"], "the list shows before the dropdown is opened"
    obs, _, _, _, info = env.step(task.solution[0])
    assert "a11y_error" not in info, info
    option = [node for node in app_nodes(obs["a11y_tree"])
              if node.role == "menu-item" and node.name == task.params["option"]]
    assert len(option) == 1 and contains(option[0].box, click_point(task.solution[1])), option
