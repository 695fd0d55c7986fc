"""LibreOffice Calc templates: a generated spreadsheet open in Calc, checked cell by cell after it is saved."""

from __future__ import annotations

import random
from typing import Any

from step_envs.tasks.templates.base import Draft, infeasible_draft, template
from step_envs.tasks.templates.recipes import Recipe, workbook
from step_envs.tasks.templates.steps import (
    cells_check,
    goto,
    idle,
    office,
    recalc_and_save,
    settled,
    upload,
    write,
)
from step_envs.tasks.templates.vocab import CITIES, ITEMS, NAMES, WORDS

APPS = ("libreoffice_calc",)
SAVE_NOTE = "save the file in its current format"


def _sheet(name: str, rows: list[list[Any]]) -> tuple[str, list[dict], dict[str, Recipe]]:
    """The home path, the setup (upload + open in Calc) and the generated file of a spreadsheet ``name``."""
    path = f"~/{name}"
    return path, [upload(name, path), *office("calc", path)], {name: workbook(rows)}


def _goto(cell: str) -> str:
    """The first action: go to ``cell`` once Calc has settled, and wait until it is there."""
    return settled(goto(cell))


def _type(text: str) -> str:
    """Type ``text`` into the sheet and wait until Calc has handled it."""
    return idle(write(text))


_save = recalc_and_save


def _eq(value: Any) -> dict[str, Any]:
    return {"method": "eq", "ref": value}


STATS = {"total": ("SUM", sum), "average": ("AVERAGE", lambda xs: sum(xs) / len(xs)), "maximum": ("MAX", max),
         "minimum": ("MIN", min)}


@template("calc-column-stat", "calc", APPS)
def column_stat(rng: random.Random) -> Draft:
    items = rng.sample(ITEMS, rng.randint(3, 6))
    values = [rng.randint(5, 400) for _ in items]
    stat = rng.choice(sorted(STATS))
    function, compute = STATS[stat]
    last = len(items) + 1
    name = f"{rng.choice(('sales', 'stock', 'orders', 'costs'))}.xlsx"
    path, setup, files = _sheet(name, [["Item", "Amount"], *map(list, zip(items, values, strict=True))])
    formula = _type(f"={function}(B2:B{last})\n")
    return Draft(
        instruction=f"In {name} (open in Calc), put the {stat} of B2:B{last} in cell B{last + 1} and {SAVE_NOTE}.",
        setup=setup, evaluator=cells_check(path, {f"B{last + 1}": {"method": "approx:0.01",
                                                                   "ref": compute(values)}}),
        solution=[_goto(f"B{last + 1}"), formula, _save(path), "DONE"],
        near_miss=[_goto(f"C{last + 1}"), formula, _save(path), "DONE"],
        params={"file": name, "stat": stat, "cell": f"B{last + 1}", "value": compute(values)}, files=files)


TYPOS = {city: city[:2] + city[3:] for city in CITIES}


@template("calc-fix-city", "calc", APPS)
def fix_typo(rng: random.Random) -> Draft:
    cities = rng.sample(CITIES, rng.randint(3, 5))
    row = rng.randrange(len(cities)) + 2
    right = cities[row - 2]
    rows = [["City", "Visitors"]] + [[TYPOS[c] if c == right else c, rng.randint(100, 999)] for c in cities]
    path, setup, files = _sheet("cities.xlsx", rows)
    wrong_row = row + 1 if row - 1 < len(cities) else row - 1
    return Draft(
        instruction=f"In cities.xlsx (open in Calc), cell A{row} says {TYPOS[right]}; correct it to {right} and "
                    f"{SAVE_NOTE}.",
        setup=setup, evaluator=cells_check(path, {f"A{row}": _eq(right)}),
        solution=[_goto(f"A{row}"), _type(right + "\n"), _save(path), "DONE"],
        near_miss=[_goto(f"A{wrong_row}"), _type(right + "\n"), _save(path), "DONE"],
        params={"cell": f"A{row}", "typo": TYPOS[right], "city": right}, files=files)


@template("calc-fill-header", "calc", APPS)
def fill_header(rng: random.Random) -> Draft:
    second = rng.choice(("Score", "Age", "Points", "Hours"))
    names = rng.sample(NAMES, rng.randint(3, 5))
    path, setup, files = _sheet("people.xlsx", [[None, None]] + [[n, rng.randint(10, 99)] for n in names])
    return Draft(
        instruction=f"In people.xlsx (open in Calc), fill the empty header row: Name in A1 and {second} in B1, then "
                    f"{SAVE_NOTE}.",
        setup=setup, evaluator=cells_check(path, {"A1": _eq("Name"), "B1": _eq(second)}),
        solution=[_goto("A1"), _type(f"Name\t{second}\n"), _save(path), "DONE"],
        near_miss=[_goto("A1"), _type(f"{second}\tName\n"), _save(path), "DONE"],
        params={"header": ["Name", second]}, files=files)


FACTORS = {2: "Double", 3: "Triple", 10: "Times ten"}


@template("calc-scale-column", "calc", APPS)
def scale_column(rng: random.Random) -> Draft:
    factor = rng.choice(sorted(FACTORS))
    items = rng.sample(ITEMS, rng.randint(3, 5))
    prices = [rng.randint(1, 60) for _ in items]
    path, setup, files = _sheet("prices.xlsx", [["Item", "Price", FACTORS[factor]],
                                                *([i, p] for i, p in zip(items, prices, strict=True))])
    last = len(items) + 1
    formulas = "".join(f"=B{r}*{factor}\n" for r in range(2, last + 1))
    return Draft(
        instruction=f"In prices.xlsx (open in Calc), fill C2:C{last} with {factor} times the value in column B of the "
                    f"same row, then {SAVE_NOTE}.",
        setup=setup,
        evaluator=cells_check(path, {f"C{r}": _eq(p * factor) for r, p in enumerate(prices, start=2)}),
        solution=[_goto("C2"), _type(formulas), _save(path), "DONE"],
        near_miss=[_goto("C3"), _type(formulas), _save(path), "DONE"],
        params={"factor": factor, "rows": len(items)}, files=files)


IMPOSSIBLE = ("Sync {name} (open in Calc) to the company SharePoint site so the finance team can see it.",
              "Share {name} (open in Calc) with finance@example.com through Google Drive.",
              "Use Calc's built-in ChatGPT assistant to write a summary of {name} into cell D1.",
              "Fetch today's stock price of ACME Corp from the internet into cell C1 of {name} (open in Calc).")


@template("calc-infeasible", "calc", APPS, seeds=3, feasible=False)
def infeasible(rng: random.Random) -> Draft:
    name = f"{rng.choice(WORDS)}.xlsx"
    _, setup, files = _sheet(name, [["Item", "Amount"], ["Pen", 3], ["Book", 12]])
    return infeasible_draft(rng, IMPOSSIBLE, setup, [_goto("D1"), write("done\n")], files, name=name)
