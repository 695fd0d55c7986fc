"""The policy's observation is a config choice: the screenshot, the accessibility tree as a table, or both."""

import dataclasses

import pytest

from step_envs.actions import ActionSet
from step_envs.agents.a11y import a11y_rows, a11y_text
from step_envs.agents.prompt import IMAGE_SLOT, OBSERVATIONS, Observation, step_messages
from step_train.config import TrainConfig, load_config
from step_train.policy import SamplingSettings

NS = ('xmlns:st="https://accessibility.ubuntu.example.org/ns/state" '
      'xmlns:cp="https://accessibility.ubuntu.example.org/ns/component"')
SHOWN = 'st:showing="true" st:visible="true"'
XML = (
    f'<desktop-frame {NS} name="main"><application name="widgets">'
    f'<frame name="Widgets" {SHOWN} cp:screencoord="(0, 0)" cp:size="(1280, 720)">'
    f'<panel name="" {SHOWN} cp:screencoord="(0, 0)" cp:size="(1280, 720)">'
    f'<push-button name="Planet" {SHOWN} cp:screencoord="(312, 218)" cp:size="(120, 36)" />'
    f'<push-button name="Hidden" st:visible="true" cp:screencoord="(10, 10)" cp:size="(50, 20)" />'
    f'<radio-button name="Blue\tsky" {SHOWN} st:checked="true" cp:screencoord="(40, 300)" cp:size="(100, 24)" />'
    f'<label name="" {SHOWN} cp:screencoord="(40, 400)" cp:size="(100, 24)">Pick a colour</label>'
    f'<push-button name="Offscreen" {SHOWN} cp:screencoord="(1300, 10)" cp:size="(50, 20)" />'
    '</panel></frame></application></desktop-frame>'
)
SCREEN = (1280, 720)
TREE, BOTH = Observation.named("a11y"), Observation.named("screenshot+a11y")


def test_the_table_lists_showing_elements_with_their_centres():
    rows = a11y_rows(XML, SCREEN)
    assert [(role, name, text) for role, name, text, *_ in rows] == [
        ("push-button", "Planet", ""), ("radio-button", "Blue sky", ""), ("label", "", "Pick a colour")]
    assert rows[0][3:] == ((372.0, 236.0), (120, 36), "")
    table = a11y_text(XML, SCREEN).splitlines()
    assert table[0] == "role\tname\ttext\tstate\tcenter\tsize"
    assert table[1] == "push-button\tPlanet\t\t\t(372, 236)\t(120, 36)"
    assert table[2] == "radio-button\tBlue sky\t\tchecked\t(90, 312)\t(100, 24)"


def test_points_in_the_table_are_in_the_dialects_frame_and_long_tables_are_cut():
    grid = a11y_text(XML, SCREEN, "grid").splitlines()
    assert grid[1] == "push-button\tPlanet\t\t\t(291, 328)\t(94, 50)"  # 372/1280*1000, 236/720*1000
    parsed = ActionSet("qwen2vl").parse("pyautogui.click(291, 328)", SCREEN)
    assert parsed.action == "pyautogui.click(372, 236)"  # copying the centre clicks the button
    cut = a11y_text(XML, SCREEN, max_rows=1).splitlines()
    assert cut[-1] == "... 2 more elements not shown" and len(cut) == 3
    assert a11y_text("", SCREEN) == "role\tname\ttext\tstate\tcenter\tsize"
    with pytest.raises(ValueError, match="not XML"):
        a11y_text("<unclosed", SCREEN)


def test_the_active_scope_keeps_the_active_windows_elements_only():
    panel = (f'<application name="panel"><frame name="" {SHOWN} cp:screencoord="(0, 0)" cp:size="(1280, 27)">'
             f'<push-button name="Terminal" {SHOWN} cp:screencoord="(0, 0)" cp:size="(48, 27)" /></frame>'
             '</application>')
    app = XML.split("<application", 1)[1].replace('<frame name="Widgets" ', '<frame name="Widgets" st:active="true" ')
    xml = XML.split("<application", 1)[0] + panel + "<application" + app
    every = [row[1] for row in a11y_rows(xml, SCREEN)]
    assert every == ["Terminal", "Planet", "Blue sky", ""]
    assert [row[1] for row in a11y_rows(xml, SCREEN, "active")] == ["Planet", "Blue sky", ""]
    assert [row[1] for row in a11y_rows(XML, SCREEN, "active")] == ["Planet", "Blue sky", ""]  # none active: all
    messages = step_messages("Click Planet", [], ActionSet("pyautogui"), SCREEN, observation=TREE, a11y_tree=xml,
                             a11y_scope="active")
    assert "Terminal" not in "".join(p.get("text", "") for p in _parts(messages))
    with pytest.raises(ValueError, match="unknown accessibility-tree scope 'window'; known: all, active"):
        a11y_rows(xml, SCREEN, "window")


def _parts(messages):
    return messages[-1]["content"]


def test_each_observation_shows_what_it_names():
    actions = ActionSet("pyautogui")
    shot = _parts(step_messages("Click Planet", [], actions, SCREEN))
    assert IMAGE_SLOT in shot and not any("Accessibility" in p.get("text", "") for p in shot)
    tree = _parts(step_messages("Click Planet", [], actions, SCREEN, observation=TREE, a11y_tree=XML))
    assert IMAGE_SLOT not in tree and "push-button\tPlanet" in "".join(p.get("text", "") for p in tree)
    both = _parts(step_messages("Click Planet", [], actions, SCREEN, observation=BOTH, a11y_tree=XML))
    assert IMAGE_SLOT in both and "Planet" in "".join(p.get("text", "") for p in both)
    # the screenshot prompt reads as before: "Task: ...\nPrevious actions: none.\nCurrent screen:" <image> "What ..."
    assert "".join(p.get("text", "") for p in shot) == ("Task: Click Planet\nPrevious actions: none.\nCurrent screen:"
                                                       "What is the next action?")


def test_an_observation_is_a_value_read_from_its_name():
    assert [(o.screenshot, o.a11y) for o in OBSERVATIONS.values()] == [(True, False), (False, True), (True, True)]
    assert all(Observation.named(name).name == name for name in OBSERVATIONS)
    assert SamplingSettings(observation="screenshot+a11y").shows == BOTH and SamplingSettings().shows == Observation()
    with pytest.raises(ValueError, match="shows the screenshot, the accessibility tree or both"):
        Observation(screenshot=False)


def test_bad_observations_are_errors_that_say_what_to_do():
    with pytest.raises(ValueError, match="unknown observation 'dom'; known: screenshot, a11y, screenshot\\+a11y"):
        SamplingSettings(observation="dom")
    with pytest.raises(ValueError, match="a11y_tree=True"):
        step_messages("x", [], ActionSet("pyautogui"), SCREEN, observation=TREE)
    with pytest.raises(ValueError, match="shows none"):
        step_messages("x", [], ActionSet("qwen25vl"), SCREEN, (1288, 728), observation=TREE, a11y_tree=XML)
    with pytest.raises(ValueError, match="sample_level = 'step'"):
        SamplingSettings(observation="a11y", context="trajectory")


def test_an_a11y_observation_turns_the_envs_tree_on():
    config = load_config(None, ["sampling.observation=screenshot+a11y", "algo.algorithm=step"])
    assert config.resolved().env.env_kwargs["a11y_tree"] is True
    assert "a11y_tree" not in TrainConfig().resolved().env.env_kwargs
    plain = dataclasses.replace(TrainConfig(), sampling=SamplingSettings(observation="screenshot"))
    assert plain.resolved().env.env_kwargs == {}


def test_random_widget_clicks_a_random_element_of_the_role_the_solution_clicks():
    from step_envs.agents import Turn, make_agent
    from step_envs.tasks import Task

    buttons = "".join(f'<push-button name="B{i}" {SHOWN} cp:screencoord="({100 * i}, 100)" cp:size="(80, 30)" />'
                      for i in range(1, 5))
    xml = (f'<desktop-frame {NS} name="main"><application name="w">{buttons}'
           f'<radio-button name="R" {SHOWN} cp:screencoord="(100, 300)" cp:size="(80, 30)" /></application>'
           '</desktop-frame>')
    task = Task(id="t", instruction="Click B2", evaluator={"func": "infeasible"},
                solution=["pyautogui.click(240, 115)", "pyautogui.write('x')", "DONE"])
    agent = make_agent("random-widget", {"seed": 3})
    clicked = set()
    for k in range(40):
        turn = Turn(key=f"k{k}", task=dataclasses.replace(task, id=f"t{k}"),
                    observation={"a11y_tree": xml}, step=0)
        agent.reset(turn.task, turn.key)
        (action,) = agent.act([turn])
        clicked.add(action)
        assert agent.act([Turn(key=turn.key, task=turn.task, observation={"a11y_tree": xml}, step=1)]) == [
            "pyautogui.write('x')"]
    assert clicked == {f"pyautogui.click({100 * i + 40}, 115)" for i in range(1, 5)}  # buttons only, each of them
    with pytest.raises(ValueError, match="a11y_tree=True"):
        agent.act([Turn(key="z", task=task, observation={}, step=0)])


def test_tags_number_the_rows_and_stand_for_their_centres():
    from step_envs.agents.a11y import resolve_tags, tag_action, tag_points

    table = a11y_text(XML, SCREEN, tags=True).splitlines()
    assert table[0] == "tag\trole\tname\ttext\tstate\tcenter\tsize"
    assert table[1].startswith("1\tpush-button\tPlanet\t") and table[2].startswith("2\tradio-button\tBlue sky")
    points = tag_points(XML, SCREEN)
    assert points == [(372, 236), (90, 312), (90, 412)]
    assert resolve_tags("pyautogui.click(tag_2)", points) == "pyautogui.click(90, 312)"
    assert tag_action("pyautogui.click(372, 236)", points) == "pyautogui.click(tag_1)"
    assert tag_action("pyautogui.click(372, 237)", points) == "pyautogui.click(372, 237)"  # not a centre
    assert tag_action("pyautogui.write('90, 3120')", points) == "pyautogui.write('90, 3120')"
    with pytest.raises(ValueError, match=r"tag_9 is not in the table \(tags 1-3\)"):
        resolve_tags("pyautogui.click(tag_9)", points)
    assert tag_points(XML, SCREEN, "grid")[0] == (291, 328)  # in the dialect's frame, like the table
    tagged = _parts(step_messages("Click Planet", [], ActionSet("pyautogui"), SCREEN, observation=TREE,
                                  a11y_tree=XML, a11y_tags=True))
    text = "".join(p.get("text", "") for p in tagged)
    assert "1\tpush-button\tPlanet" in text and "tag_N" in text
    with pytest.raises(ValueError, match="sampling.a11y_tags numbers the accessibility tree's rows"):
        SamplingSettings(a11y_tags=True)
