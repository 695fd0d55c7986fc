"""LibreOffice Writer templates: a generated document open in Writer, compared paragraph text by paragraph text
with an expected document after it is saved."""

from __future__ import annotations

import random

from step_envs.tasks.templates.base import Draft, infeasible_draft, template
from step_envs.tasks.templates.recipes import Recipe, document
from step_envs.tasks.templates.steps import (
    docx_check,
    hotkey,
    idle,
    office,
    press,
    save_and_wait,
    settled,
    upload,
    write,
)
from step_envs.tasks.templates.vocab import CITIES, ITEMS, NAMES, WORDS

APPS = ("libreoffice_writer",)
SAVE_NOTE = "save the file in its current format"
EXPECTED = "expected.docx"


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    return [f"{rng.choice(NAMES)} visits {rng.choice(CITIES)} with a {rng.choice(WORDS)}." for _ in range(count)]


def _opened(rng: random.Random, paragraphs: list[str]) -> tuple[str, list[dict], dict[str, Recipe]]:
    """A document of ``paragraphs`` with a seeded name: its home path, the setup that opens it in Writer, its file."""
    name = f"{rng.choice(('letter', 'memo', 'notes', 'report', 'minutes'))}.docx"
    return f"~/{name}", [upload(name, f"~/{name}"), *office("writer", f"~/{name}")], {name: document(paragraphs)}


def _draft(rng: random.Random, paragraphs: list[str], expected: list[str], instruction: str, solution: list[str],
           near_miss: list[str], params: dict) -> Draft:
    """A Writer task: ``paragraphs`` open in Writer, checked against ``expected`` once saved; each action waits
    until Writer has handled its keys before the next one comes."""
    path, setup, files = _opened(rng, paragraphs)
    name = path[2:]
    return Draft(
        instruction=instruction.format(name=name), setup=setup, evaluator=docx_check(path, EXPECTED),
        solution=[settled(solution[0]), *map(idle, solution[1:]), save_and_wait(path), "DONE"],
        near_miss=[settled(near_miss[0]), *map(idle, near_miss[1:]), save_and_wait(path), "DONE"],
        params={"file": name, **params}, files={**files, EXPECTED: document(expected)})


@template("writer-append-paragraph", "writer", APPS)
def append_paragraph(rng: random.Random) -> Draft:
    paragraphs = _paragraphs(rng, rng.randint(1, 3))
    new = f"The meeting moves to {rng.choice(('Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday'))}."
    return _draft(rng, paragraphs, [*paragraphs, new],
                  f"In {{name}} (open in Writer), add a new last paragraph that says: {new} Then {SAVE_NOTE}.",
                  [hotkey("ctrl", "end"), press("enter") + "\n" + write(new)],
                  [hotkey("ctrl", "home"), write(new) + "\n" + press("enter")], {"paragraph": new})


@template("writer-correct-title", "writer", APPS)
def fix_title(rng: random.Random) -> Draft:
    title = f"{rng.choice(('Quarterly', 'Annual', 'Monthly', 'Weekly'))} {rng.choice(('Report', 'Summary', 'Review'))}"
    cut = rng.randrange(2, len(title.split()[0]))
    typo = title[:cut] + title[cut + 1:]
    body = _paragraphs(rng, rng.randint(1, 3))
    retype = [hotkey("shift", "end"), write(title)]
    return _draft(rng, [typo, *body], [title, *body],
                  f"The first paragraph of {{name}} (open in Writer) reads {typo}; correct it to {title} and "
                  f"{SAVE_NOTE}.",
                  [hotkey("ctrl", "home"), *retype], [hotkey("ctrl", "home") + "\n" + press("down"), *retype],
                  {"typo": typo, "title": title})


@template("writer-remove-paragraph", "writer", APPS)
def delete_paragraph(rng: random.Random) -> Draft:
    paragraphs = _paragraphs(rng, rng.randint(3, 5))
    index = rng.randrange(len(paragraphs) - 1)

    def delete(number: int) -> list[str]:
        return [hotkey("ctrl", "home") + (f"\n{press('down', number)}" if number else ""),
                press("home") + "\n" + hotkey("shift", "down"), press("delete")]

    return _draft(rng, paragraphs, paragraphs[:index] + paragraphs[index + 1:],
                  f"Delete paragraph number {index + 1} ({paragraphs[index]}) from {{name}} (open in Writer) and "
                  f"{SAVE_NOTE}.", delete(index), delete(index + 1), {"paragraph": index + 1})


@template("writer-type-list", "writer", APPS)
def type_list(rng: random.Random) -> Draft:
    items = rng.sample(ITEMS, rng.randint(3, 5))
    steps = [write(item) + ("\n" + press("enter") if number < len(items) - 1 else "")
             for number, item in enumerate(items)]
    return _draft(rng, [], items,
                  f"Type these words into the empty document {{name}} (open in Writer), one per paragraph and in "
                  f"this order: {', '.join(items)}. Then {SAVE_NOTE}.",
                  steps, [write("\n".join(reversed(items)))], {"items": items})


IMPOSSIBLE = ("Translate {name} (open in Writer) into Japanese with the DeepL website and paste the result below.",
              "Email {name} (open in Writer) to my manager through Outlook.",
              "Insert today's weather forecast for Paris from the internet at the end of {name} (open in Writer).")


@template("writer-infeasible", "writer", APPS, seeds=3, feasible=False)
def infeasible(rng: random.Random) -> Draft:
    path, setup, files = _opened(rng, _paragraphs(rng, 2))
    return infeasible_draft(rng, IMPOSSIBLE, setup, [settled(hotkey("ctrl", "end")), write(" Done.")], files,
                            name=path[2:])
