"""The widget task templates: MiniWoB-style tasks (click, type, tick, choose, drag, fill a form) in the app.

Each template draws its instance from ``random.Random("<template>/<seed>")`` (same seed, same labels, layout,
instruction, solution), so ``widget-click-button/3`` is the same task on any machine. A solution clicks the exact
pixel centres the layout gave its widgets, one action a step; a near miss does almost the same and must score 0.
Instances take 1-6 actions; the difficulty follows the count
(:func:`step_envs.tasks.templates.base.difficulty_of`).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

from step_envs.tasks.model import Task, TaskError
from step_envs.tasks.templates.base import Draft, Generator, Template
from step_envs.tasks.templates.vocab import CITIES, NAMES, WORDS
from step_envs.widgets.form import Form, click, write

DOMAIN = "widgets"
DEFAULT_SEEDS = 5
FIELDS = ("Name", "City", "Company", "Title", "Team", "Pet", "Project", "Street")
ITEMS = ("Apples", "Bread", "Cheese", "Coffee", "Eggs", "Honey", "Milk", "Olives", "Pasta", "Rice", "Salt", "Tea")
DROPDOWNS = {
    "Color": ("Red", "Green", "Blue", "Yellow", "Purple", "Orange"),
    "Size": ("Small", "Medium", "Large", "Huge"),
    "Country": ("France", "Japan", "Brazil", "Canada", "Kenya", "Norway"),
    "Language": ("English", "German", "Spanish", "Hindi", "Korean"),
}
RADIOS = {
    "Shipping": ("Standard", "Express", "Overnight"),
    "Plan": ("Free", "Basic", "Pro", "Team"),
    "Payment": ("Card", "Cash", "Transfer"),
    "Theme": ("Light", "Dark", "Contrast"),
}
SLIDERS = ("Volume", "Brightness", "Speed", "Zoom", "Opacity")
SLIDER_RANGES = ((0, 10), (0, 20), (0, 50), (0, 100))
COUNTERS = ("Tickets", "Guests", "Copies", "Rooms", "Nights")
SWITCHES = ("Notifications", "Autosave", "Dark mode", "Sync", "Sounds")

WIDGET_TEMPLATES: dict[str, Template] = {}
"""Every widget template by id."""


def widget_template(template_id: str) -> Callable[[Generator], Generator]:
    """Register the decorated generator as the widget template ``template_id``."""

    def add(generate: Generator) -> Generator:
        if template_id in WIDGET_TEMPLATES:
            raise ValueError(f"widget template {template_id!r} is registered twice")
        WIDGET_TEMPLATES[template_id] = Template(template_id, DOMAIN, (DOMAIN,), generate, DEFAULT_SEEDS)
        return generate

    return add


def _labels(rng: random.Random, count: int) -> list[str]:
    return [word.capitalize() for word in rng.sample(WORDS, count)]


def _other(rng: random.Random, values: list[str] | tuple[str, ...], value: str) -> str:
    return rng.choice([other for other in values if other != value])


def _quoted(values: list[str]) -> str:
    return ", ".join(f'"{value}"' for value in values)


@widget_template("widget-click-button")
def click_button(rng: random.Random) -> Draft:
    labels = _labels(rng, rng.randint(3, 6))
    target = rng.choice(labels)
    form = Form(rng, f'Click the button labelled "{target}".')
    boxes = form.buttons(labels)
    wrong = _other(rng, labels, target)
    return Draft(form.instruction, form.setup(), form.evaluator({"clicks": [target]}),
                 [click(boxes[target].center), "DONE"], [click(boxes[wrong].center), "DONE"],
                 {"labels": labels, "target": target})


@widget_template("widget-type-text")
def type_text(rng: random.Random) -> Draft:
    fields = rng.sample(FIELDS, rng.randint(2, 4))
    field, value = rng.choice(fields), f"{rng.choice(WORDS)} {rng.randint(10, 99)}"
    form = Form(rng, f'Type "{value}" into the {field} field.')
    boxes = {name: form.entry(name) for name in fields}
    wrong = _other(rng, fields, field)
    return Draft(form.instruction, form.setup(), form.evaluator({f"field:{field}": value}),
                 [click(boxes[field].center), write(value), "DONE"],
                 [click(boxes[wrong].center), write(value), "DONE"],
                 {"fields": fields, "field": field, "value": value})


@widget_template("widget-tick-boxes")
def tick_boxes(rng: random.Random) -> Draft:
    """Some boxes start ticked; 1-4 must change. The near miss changes one box too many."""
    labels = rng.sample(ITEMS, rng.randint(4, 6))
    ticked = {label for label in labels if rng.random() < 0.4}
    toggles = rng.sample(labels, rng.randint(1, min(4, len(labels) - 1)))
    target = ticked ^ set(toggles)
    wanted = [label for label in labels if label in target]
    instruction = (f"Tick exactly these boxes: {_quoted(wanted)}. Leave every other box unticked." if wanted else
                   "Untick every box.")
    form = Form(rng, instruction)
    boxes = form.checkboxes(labels, ticked)
    extra = rng.choice([label for label in labels if label not in toggles])
    solution = [click(boxes[label].center) for label in toggles]
    expected = {f"check:{label}": label in target for label in labels}
    return Draft(instruction, form.setup(), form.evaluator(expected),
                 [*solution, "DONE"], [*solution, click(boxes[extra].center), "DONE"],
                 {"labels": labels, "initially_ticked": sorted(ticked), "ticked": wanted})


@widget_template("widget-select-option")
def select_option(rng: random.Random) -> Draft:
    """Open a dropdown and pick an option; the near miss picks the option next to it."""
    names = rng.sample(sorted(DROPDOWNS), rng.randint(1, 2))
    name = rng.choice(names)
    options = list(DROPDOWNS[name])
    index = rng.randrange(len(options))
    form = Form(rng, f'Select "{options[index]}" in the {name} dropdown.')
    lists = {other: form.dropdown(other, list(DROPDOWNS[other])) for other in names}
    box, rows = lists[name]
    near = options[index + 1] if index + 1 < len(options) else options[index - 1]
    return Draft(form.instruction, form.setup(), form.evaluator({f"select:{name}": options[index]}),
                 [click(box.center), click(rows[options[index]].center), "DONE"],
                 [click(box.center), click(rows[near].center), "DONE"],
                 {"dropdowns": names, "dropdown": name, "option": options[index]})


@widget_template("widget-set-slider")
def set_slider(rng: random.Random) -> Draft:
    """Drag a slider's handle to a value; the near miss stops one unit short or long."""
    names = rng.sample(SLIDERS, rng.randint(1, 2))
    ranges = {other: rng.choice(SLIDER_RANGES) for other in names}
    starts = {other: rng.randint(*ranges[other]) for other in names}
    name = rng.choice(names)
    (low, high), start = ranges[name], starts[name]
    target = rng.choice([value for value in range(low, high + 1) if abs(value - start) > 1])
    near = target + 1 if target < high else target - 1
    form = Form(rng, f"Drag the {name} slider to {target}.")
    sliders = {other: form.slider(other, *ranges[other], starts[other]) for other in names}
    return Draft(form.instruction, form.setup(), form.evaluator({f"slider:{name}": target}),
                 [sliders[name].drag(start, target), "DONE"], [sliders[name].drag(start, near), "DONE"],
                 {"sliders": names, "slider": name, "start": start, "target": target, "range": [low, high]})


@widget_template("widget-choose-radio")
def choose_radio(rng: random.Random) -> Draft:
    groups = rng.sample(sorted(RADIOS), rng.randint(1, 2))
    group = rng.choice(groups)
    value = rng.choice(RADIOS[group])
    form = Form(rng, f'Choose "{value}" for {group}.')
    boxes = {other: form.radios(other, list(RADIOS[other])) for other in groups}
    wrong = _other(rng, RADIOS[group], value)
    return Draft(form.instruction, form.setup(), form.evaluator({f"radio:{group}": value}),
                 [click(boxes[group][value].center), "DONE"], [click(boxes[group][wrong].center), "DONE"],
                 {"groups": groups, "group": group, "value": value})


@widget_template("widget-click-sequence")
def click_sequence(rng: random.Random) -> Draft:
    """Click 2-5 buttons in a given order; the near miss swaps the last two."""
    labels = _labels(rng, rng.randint(4, 6))
    order = rng.sample(labels, rng.randint(2, min(5, len(labels))))
    form = Form(rng, f"Click these buttons in this order: {_quoted(order)}.")
    boxes = form.buttons(labels)
    swapped = [*order[:-2], order[-1], order[-2]]
    return Draft(form.instruction, form.setup(), form.evaluator({"clicks": order}),
                 [*(click(boxes[label].center) for label in order), "DONE"],
                 [*(click(boxes[label].center) for label in swapped), "DONE"],
                 {"labels": labels, "order": order})


@widget_template("widget-counter")
def counter(rng: random.Random) -> Draft:
    """Press + or - 1-5 times; the near miss presses once too often."""
    name = rng.choice(COUNTERS)
    start = rng.randint(0, 6)
    target = rng.choice([value for value in range(max(0, start - 5), start + 6) if value != start])
    form = Form(rng, f"Use the - and + buttons to make {name} show {target}.")
    minus, plus = form.counter(name, start)
    press = click((plus if target > start else minus).center)
    presses = [press] * abs(target - start)
    return Draft(form.instruction, form.setup(), form.evaluator({f"counter:{name}": target}),
                 [*presses, "DONE"], [*presses, press, "DONE"],
                 {"counter": name, "start": start, "target": target})


@widget_template("widget-login")
def login(rng: random.Random) -> Draft:
    """Type a username and a (masked) password, then click Log in; the near miss drops the password's last
    character."""
    username = f"{rng.choice(NAMES).lower()}{rng.randint(10, 99)}"
    password = "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(6, 8)))
    form = Form(rng, f'Log in with username "{username}" and password "{password}".')
    user_box, password_box = form.entry("Username"), form.entry("Password", secret=True)
    buttons = form.buttons(rng.sample(["Log in", "Cancel"], 2))
    steps = [click(user_box.center), write(username), click(password_box.center)]
    submit = click(buttons["Log in"].center)
    expected = {"field:Username": username, "field:Password": password, "clicks": ["Log in"]}
    return Draft(form.instruction, form.setup(), form.evaluator(expected),
                 [*steps, write(password), submit, "DONE"], [*steps, write(password[:-1]), submit, "DONE"],
                 {"username": username, "password": password})


@widget_template("widget-fill-form")
def fill_form(rng: random.Random) -> Draft:
    """Text fields, a dropdown and/or a checkbox, then Submit (4-6 actions); the near miss never submits."""
    name = f"{rng.choice(NAMES)} {rng.choice(WORDS).capitalize()}"
    texts = {"Name": name, "City": rng.choice(CITIES), "Email": f"{name.split()[0].lower()}@mail.test"}
    layout = rng.choice([("text", "text"), ("text", "dropdown"), ("text", "checkbox"),
                         ("text", "text", "checkbox"), ("text", "dropdown", "checkbox")])
    fields = rng.sample(sorted(texts), layout.count("text"))
    country, subscribe = rng.choice(DROPDOWNS["Country"]), rng.random() < 0.5
    parts = [f'{field} "{texts[field]}"' for field in fields]
    if "dropdown" in layout:
        parts.append(f'Country "{country}"')
    if "checkbox" in layout:  # it starts the other way, so there is always a click to make
        parts.append("tick Newsletter" if subscribe else "untick Newsletter")
    form = Form(rng, f"Fill in the form ({', '.join(parts)}), then click Submit.")
    steps, expected = [], {"clicks": ["Submit"]}
    for field in fields:
        steps += [click(form.entry(field).center), write(texts[field])]
        expected[f"field:{field}"] = texts[field]
    if "dropdown" in layout:
        box, rows = form.dropdown("Country", list(DROPDOWNS["Country"]))
        steps += [click(box.center), click(rows[country].center)]
        expected["select:Country"] = country
    if "checkbox" in layout:
        box = form.checkboxes(["Newsletter"], set() if subscribe else {"Newsletter"})["Newsletter"]
        steps.append(click(box.center))
        expected["check:Newsletter"] = subscribe
    submit = form.buttons(["Submit"])["Submit"]
    return Draft(form.instruction, form.setup(), form.evaluator(expected), [*steps, click(submit.center), "DONE"],
                 [*steps, "DONE"], {"layout": list(layout), **{field: texts[field] for field in fields}})


@widget_template("widget-copy-text")
def copy_text(rng: random.Random) -> Draft:
    """The code to type is only on the screen, not in the instruction; the near miss gets one digit wrong."""
    code = "".join(rng.choices(string.ascii_uppercase, k=3)) + "-" + "".join(rng.choices(string.digits, k=3))
    form = Form(rng, "Type the code shown on the screen into the Answer field, then click Submit.")
    form.text(f"Code: {code}", bold=True)
    answer = form.entry("Answer")
    submit = form.buttons(rng.sample(["Submit", "Clear"], 2))["Submit"]
    typo = code[:-1] + str((int(code[-1]) + 1) % 10)
    expected = {"field:Answer": code, "clicks": ["Submit"]}
    return Draft(form.instruction, form.setup(), form.evaluator(expected),
                 [click(answer.center), write(code), click(submit.center), "DONE"],
                 [click(answer.center), write(typo), click(submit.center), "DONE"], {"code": code})


@widget_template("widget-settings")
def settings(rng: random.Random) -> Draft:
    """A settings panel: set a slider plus one or two of (a switch, a radio group, a dropdown), then Apply:
    3-6 actions. The near miss leaves the slider one unit off."""
    extras = rng.sample(["switch", "radio", "dropdown"], rng.randint(1, 2))
    switch, switch_on = rng.choice(SWITCHES), rng.random() < 0.5
    group, menu = rng.choice(sorted(RADIOS)), rng.choice(sorted(DROPDOWNS))
    choice, option = rng.choice(RADIOS[group]), rng.choice(DROPDOWNS[menu])
    name, (low, high) = rng.choice(SLIDERS), rng.choice(SLIDER_RANGES)
    start = rng.randint(low, high)
    target = rng.choice([value for value in range(low, high) if abs(value - start) > 1])
    parts = [f"set {name} to {target}"]
    if "switch" in extras:
        parts.append(f"turn {switch} {'on' if switch_on else 'off'}")
    if "radio" in extras:
        parts.append(f'choose "{choice}" for {group}')
    if "dropdown" in extras:
        parts.append(f'select "{option}" as {menu}')
    form = Form(rng, f"In these settings, {', '.join(parts)}, then click Apply.")
    steps, expected = [], {"clicks": ["Apply"], f"slider:{name}": target}
    if "dropdown" in extras:  # the top row, so its list has room to open below it
        box, rows = form.dropdown(menu, list(DROPDOWNS[menu]))
        steps += [click(box.center), click(rows[option].center)]
        expected[f"select:{menu}"] = option
    slider = form.slider(name, low, high, start)
    if "switch" in extras:  # it starts the other way, so there is always a click to make
        steps.append(click(form.checkboxes([switch], set() if switch_on else {switch})[switch].center))
        expected[f"check:{switch}"] = switch_on
    if "radio" in extras:
        steps.append(click(form.radios(group, list(RADIOS[group]))[choice].center))
        expected[f"radio:{group}"] = choice
    apply = click(form.buttons(rng.sample(["Apply", "Reset"], 2))["Apply"].center)
    return Draft(form.instruction, form.setup(), form.evaluator(expected),
                 [slider.drag(start, target), *steps, apply, "DONE"],
                 [slider.drag(start, target + 1), *steps, apply, "DONE"],
                 {"extras": extras, "slider": name, "start": start, "target": target})


def widget_template_of(template_id: str) -> Template:
    if template_id not in WIDGET_TEMPLATES:
        raise TaskError(f"unknown widget template {template_id!r}; known: {', '.join(sorted(WIDGET_TEMPLATES))}")
    return WIDGET_TEMPLATES[template_id]


def widget_task(task_id: str) -> Task:
    """The widget task ``<template>/<seed>``, e.g. ``widget-click-button/3``."""
    template_id, _, seed = task_id.rpartition("/")
    if not seed.isdigit():
        raise TaskError(f"{task_id!r} is not a widget task id (<template>/<seed>, e.g. widget-click-button/3)")
    return widget_template_of(template_id).instance(int(seed))


def near_miss(task: Task) -> list[str]:
    """The "almost right" actions of a widget task (they must score 0)."""
    if task.template not in WIDGET_TEMPLATES or task.seed is None:
        raise TaskError(f"{task.id!r} is not a widget task instance")
    return WIDGET_TEMPLATES[task.template].draft(task.seed).near_miss


def widget_tasks(seeds_per_template: int = DEFAULT_SEEDS) -> list[Task]:
    """Seeds ``0 .. seeds_per_template - 1`` of every widget template, by template id then seed."""
    if seeds_per_template < 1:
        raise ValueError(f"seeds_per_template must be at least 1, got {seeds_per_template}")
    return [WIDGET_TEMPLATES[tid].instance(seed) for tid in sorted(WIDGET_TEMPLATES)
            for seed in range(seeds_per_template)]


__all__ = ["WIDGET_TEMPLATES", "near_miss", "widget_task", "widget_tasks"]
