"""Chromium templates on local pages: each instance generates its own ``file://`` page (no network); a page
reports what the agent submitted by downloading a small file into ``~/Downloads``, which the checker reads."""

from __future__ import annotations

import html
import json
import random

from step_envs.tasks.templates.base import Draft, infeasible_draft, template
from step_envs.tasks.templates.steps import (
    cmd_equals,
    join,
    launch,
    path_wait,
    press,
    write,
    write_text,
)
from step_envs.tasks.templates.vocab import CITIES, ITEMS, NAMES

APPS = ("chromium",)
FLAGS = ("--no-first-run --no-default-browser-check --password-store=basic --disable-gpu "
         "--disable-features=DownloadBubble,DownloadBubbleV2 --disable-component-update")
READY_IDLE = 1.0
"""Seconds Chromium's processes and the screen must stay idle after it opens a page: it maps its window, then loads
and paints the page and focuses its ``autofocus`` field a moment later (seconds on a loaded machine); keys typed
before that are lost (`step_envs.tasks.osworld.CHROME_READY` waits the same way)."""


def submit(name: str, keys: str = "pyautogui.press('enter')") -> str:
    """Action: ``keys`` submit the form, then wait until its download ``~/Downloads/<name>`` has landed (Chromium
    renames it there once written)."""
    return join(keys, path_wait(f"~/Downloads/{name}"))

SCRIPT = """
function submitted(name, text) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([text], {type: 'text/plain'}));
  link.download = name;
  document.body.appendChild(link);
  link.click();
  document.getElementById('status').textContent = 'Submitted.';
}
"""


def page(title: str, body: str, on_submit: str) -> str:
    """A page whose form calls ``on_submit`` (JS statements ending in a ``submitted(name, text)`` call)."""
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>\n"
            f"<style>body{{font:18px sans-serif;margin:40px}} input,select,button{{font-size:18px;margin:6px}}"
            f" td,th{{border:1px solid #999;padding:4px 12px}}</style></head>\n<body>\n"
            f"<form id=\"form\">\n{body}\n<button type=\"submit\">Submit</button></form>\n<p id=\"status\"></p>\n"
            f"<script>{SCRIPT}\ndocument.getElementById('form').addEventListener('submit', event => {{\n"
            f"  event.preventDefault();\n  {on_submit}\n}});\n</script>\n</body></html>\n")


def open_page(name: str, title: str, content: str) -> list[dict]:
    """Setup: write the page to ``~/site/<name>``, open it in Chromium and wait for its window."""
    return [write_text(f"~/site/{name}", content),
            *launch(f"chromium {FLAGS} file://$HOME/site/{name}", f"{title} - Chromium", idle=READY_IDLE,
                    timeout=60)]


def downloaded(name: str, text: str) -> dict:
    return cmd_equals(f"cat ~/Downloads/{name}", text)


@template("chromium-fill-form", "chromium", APPS)
def fill_form(rng: random.Random) -> Draft:
    name = rng.choice(NAMES)
    values = {"name": name, "email": f"{name.lower()}@example.org", "city": rng.choice(CITIES),
              "quantity": str(rng.randint(2, 40))}
    title = f"Order form {rng.randint(100, 999)}"
    body = "\n".join(f"<p><label>{field.capitalize()} <input id=\"{field}\"{' autofocus' if i == 0 else ''}></label></p>"
                     for i, field in enumerate(values))
    collect = "{" + ", ".join(f"{field}: document.getElementById('{field}').value" for field in values) + "}"
    on_submit = f"submitted('order.json', JSON.stringify({collect}));"
    swapped = dict(values, name=values["city"], city=values["name"])
    fields = ", ".join(f"{field} {value}" for field, value in values.items())

    def fill(answer: dict[str, str]) -> list[str]:
        return [write(value) + ("" if i == len(answer) - 1 else "\n" + press("tab"))
                for i, value in enumerate(answer.values())] + [submit("order.json")]

    return Draft(
        instruction=f"Fill in the order form open in Chromium with {fields}, then submit it.",
        setup=open_page("order.html", title, page(title, body, on_submit)),
        evaluator=downloaded("order.json", json.dumps(values, separators=(",", ":"))),
        solution=[*fill(values), "DONE"], near_miss=[*fill(swapped), "DONE"], params=values)


@template("chromium-table-lookup", "chromium", APPS)
def table_lookup(rng: random.Random) -> Draft:
    items = rng.sample(ITEMS, rng.randint(4, 7))
    prices = rng.sample(range(3, 250), len(items))
    index = rng.randrange(len(items))
    neighbour = (index + 1) % len(items)
    title = f"Price list {rng.randint(100, 999)}"
    rows = "".join(f"<tr><td>{item}</td><td>{price}</td></tr>" for item, price in zip(items, prices, strict=True))
    body = (f"<table><tr><th>Item</th><th>Price</th></tr>{rows}</table>\n"
            "<p><label>Answer <input id=\"answer\" autofocus></label></p>")
    on_submit = "submitted('answer.txt', document.getElementById('answer').value);"
    return Draft(
        instruction=f"The page open in Chromium lists prices. Type the price of the {items[index]} into the Answer "
                    "box and submit.",
        setup=open_page("prices.html", title, page(title, body, on_submit)),
        evaluator=downloaded("answer.txt", str(prices[index])),
        solution=[write(str(prices[index])), submit("answer.txt"), "DONE"],
        near_miss=[write(str(prices[neighbour])), submit("answer.txt"), "DONE"],
        params={"item": items[index], "price": prices[index]})


PLANS = ("Basic", "Family", "Premium", "Student", "Team")


@template("chromium-choose-plan", "chromium", APPS)
def choose_plan(rng: random.Random) -> Draft:
    plans = rng.sample(PLANS, 4)
    plan = rng.choice(plans[1:])
    title = f"Subscription {rng.randint(100, 999)}"
    options = "".join(f"<option>{p}</option>" for p in plans)
    body = (f"<p><label>Plan <select id=\"plan\" autofocus>{options}</select></label></p>\n"
            "<p><label><input type=\"checkbox\" id=\"terms\"> I accept the terms</label></p>")
    on_submit = ("submitted('plan.json', JSON.stringify({plan: document.getElementById('plan').value, "
                 "terms: document.getElementById('terms').checked}));")
    pick = [write(plan), press("tab")]
    send = submit("plan.json", press("tab") + "\n" + press("enter"))
    return Draft(
        instruction=f"On the subscription page open in Chromium, choose the {plan} plan, accept the terms and "
                    "submit.",
        setup=open_page("plan.html", title, page(title, body, on_submit)),
        evaluator=downloaded("plan.json", json.dumps({"plan": plan, "terms": True}, separators=(",", ":"))),
        solution=[*pick, press("space"), send, "DONE"], near_miss=[*pick, send, "DONE"],
        params={"plan": plan, "choices": plans})


IMPOSSIBLE = ("Log in to my Gmail account in Chromium and archive every unread email.",
              "Open the Chrome Web Store in Chromium and install the uBlock Origin extension.",
              "Book the cheapest flight from Paris to Rome for next Friday on the airline's website.",
              "Sync this browser's bookmarks with my Google account.")


@template("chromium-infeasible", "chromium", APPS, seeds=3, feasible=False)
def infeasible(rng: random.Random) -> Draft:
    title = f"Start page {rng.randint(100, 999)}"
    content = page(title, "<p><label>Search <input id=\"q\" autofocus></label></p>",
                   "submitted('search.txt', document.getElementById('q').value);")
    return infeasible_draft(rng, IMPOSSIBLE, open_page("start.html", title, content),
                            [write("gmail") + "\n" + press("enter")])
