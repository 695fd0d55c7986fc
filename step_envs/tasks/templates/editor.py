"""Text editor templates: edit a generated file open in Mousepad and save it."""

from __future__ import annotations

import random

from step_envs.tasks.templates.base import Draft, template
from step_envs.tasks.templates.steps import (
    cmd_equals,
    editor,
    hotkey,
    press,
    save_and_wait,
    write,
    write_text,
)
from step_envs.tasks.templates.vocab import ITEMS, NAMES, WORDS

APPS = ("mousepad",)


def _file(rng: random.Random, extension: str = "txt") -> str:
    return f"~/{rng.choice(('todo', 'notes', 'list', 'plan', 'ideas'))}-{rng.randint(1, 99)}.{extension}"


def _setup(path: str, text: str) -> list[dict]:
    return [write_text(path, text), *editor(path)]


@template("editor-append-item", "text_editor", APPS)
def append_line(rng: random.Random) -> Draft:
    path, lines = _file(rng), [f"Buy {item.lower()}" for item in rng.sample(ITEMS, rng.randint(2, 4))]
    new = f"Call {rng.choice(NAMES)}"
    text = "\n".join(lines) + "\n"
    return Draft(
        instruction=f"In the open text editor, add the line {new} at the end of {path} (below {lines[-1]}) and "
                    "save the file.",
        setup=_setup(path, text), evaluator=cmd_equals(f"cat {path}", text + new + "\n"),
        solution=[hotkey("ctrl", "end"), write(new + "\n"), save_and_wait(path), "DONE"],
        near_miss=[hotkey("ctrl", "home"), write(new + "\n"), save_and_wait(path), "DONE"],
        params={"file": path, "line": new})


@template("editor-replace-word", "text_editor", APPS)
def replace_word(rng: random.Random) -> Draft:
    path = _file(rng)
    subject, old, new, place = rng.sample(WORDS, 4)
    sentence = f"The {subject} saw a {old} near the {place}."
    fixed = sentence.replace(f" {old} ", f" {new} ")
    return Draft(
        instruction=f"In {path}, which is open in the editor, replace the word {old} with {new}, then save.",
        setup=_setup(path, sentence + "\n"), evaluator=cmd_equals(f"cat {path}", fixed + "\n"),
        solution=[hotkey("ctrl", "a"), write(fixed + "\n"), save_and_wait(path), "DONE"],
        near_miss=[hotkey("ctrl", "a"), write(sentence.replace(f" {old} ", f" {old} {new} ") + "\n"),
                   save_and_wait(path), "DONE"],
        params={"file": path, "old": old, "new": new})


@template("editor-remove-line", "text_editor", APPS)
def delete_line(rng: random.Random) -> Draft:
    path, lines = _file(rng), rng.sample(WORDS, rng.randint(3, 6))
    index = rng.randrange(len(lines) - 1)
    keep, wrong = lines[:index] + lines[index + 1:], lines[:index + 1] + lines[index + 2:]
    select = [hotkey("ctrl", "home") + (f"\n{press('down', index)}" if index else ""), hotkey("shift", "down"),
              press("delete")]
    near = [hotkey("ctrl", "home") + f"\n{press('down', index + 1)}", hotkey("shift", "down"), press("delete")]
    return Draft(
        instruction=f"Delete the line {lines[index]} from {path} (open in the editor) and save it, keeping the "
                    "other lines in order.",
        setup=_setup(path, "\n".join(lines) + "\n"), evaluator=cmd_equals(f"cat {path}", "\n".join(keep) + "\n"),
        solution=[*select, save_and_wait(path), "DONE"], near_miss=[*near, save_and_wait(path), "DONE"],
        params={"file": path, "line": lines[index], "wrong_result": wrong})


@template("editor-add-title", "text_editor", APPS)
def add_header(rng: random.Random) -> Draft:
    path = _file(rng, "md")
    items = [f"- {item.lower()}" for item in rng.sample(ITEMS, rng.randint(2, 4))]
    title = f"# {rng.choice(('Shopping', 'Packing', 'Moving', 'Party'))} list"
    text = "\n".join(items) + "\n"
    return Draft(
        instruction=f"Add a first line {title} at the top of {path} (open in the editor) and save.",
        setup=_setup(path, text), evaluator=cmd_equals(f"cat {path}", f"{title}\n{text}"),
        solution=[hotkey("ctrl", "home"), write(title + "\n"), save_and_wait(path), "DONE"],
        near_miss=[hotkey("ctrl", "end"), write(title + "\n"), save_and_wait(path), "DONE"],
        params={"file": path, "header": title})


@template("editor-fill-placeholders", "text_editor", APPS)
def fill_placeholders(rng: random.Random) -> Draft:
    path = _file(rng)
    name, sender = rng.sample(NAMES, 2)
    day = rng.choice(("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"))
    lines = ["Dear NAME,", "see you on DAY.", "SENDER"]
    values = {"NAME": name, "DAY": day, "SENDER": sender}

    def filled(mapping: dict[str, str]) -> list[str]:
        out = []
        for line in lines:
            for key, value in mapping.items():
                line = line.replace(key, value)
            out.append(line)
        return out

    steps = []
    for number, line in enumerate(filled(values)):
        steps += [hotkey("ctrl", "home") + (f"\n{press('down', number)}" if number else ""),
                  press("home") + "\n" + hotkey("shift", "end"), write(line)]
    swapped = filled({"NAME": sender, "DAY": day, "SENDER": name})
    near = [hotkey("ctrl", "a"), write("\n".join(swapped) + "\n")]
    return Draft(
        instruction=f"{path} (open in the editor) has the placeholders NAME, DAY and SENDER. Replace them with "
                    f"{name}, {day} and {sender} respectively, then save.",
        setup=_setup(path, "\n".join(lines) + "\n"),
        evaluator=cmd_equals(f"cat {path}", "\n".join(filled(values)) + "\n"),
        solution=[*steps, save_and_wait(path), "DONE"], near_miss=[*near, save_and_wait(path), "DONE"],
        params={"file": path, **{key.lower(): value for key, value in values.items()}})
