"""Image viewer templates: generated pictures shown in Ristretto; the agent has to look at them."""

from __future__ import annotations

import random
import re

from step_envs.tasks.templates.base import Draft, template
from step_envs.tasks.templates.recipes import Recipe, png
from step_envs.tasks.templates.steps import (
    cmd_equals,
    editor,
    hotkey,
    join,
    launch,
    path_wait,
    press,
    save_and_wait,
    sh,
    upload,
    window,
    write,
)
from step_envs.tasks.templates.vocab import COLORS

APPS = ("ristretto",)


def _pictures(rng: random.Random, count: int) -> tuple[list[str], dict[str, Recipe]]:
    """``count`` one-colour pictures ``photo-1.png`` ... in a seeded order of colours."""
    colors = rng.sample(sorted(COLORS), count)
    return colors, {f"photo-{number}.png": png(COLORS[color]) for number, color in enumerate(colors, start=1)}


QUIET_VIEWER = sh("xfconf-query -c ristretto -p /errors/missing-thumbnailer -n -t bool -s false && "
                  "xfconf-query -c ristretto -p /window/thumbnails/show -n -t bool -s false")
"""Setup: no thumbnail bar, and no "cannot reach the thumbnailer" dialog over the picture (no tumbler here)."""


def _viewer(first: str) -> list[dict]:
    return [QUIET_VIEWER, *launch(["ristretto", f"~/Photos/{first}"], f"{first}", quiet=0.5)]


@template("viewer-delete-picture", "image_viewer", APPS)
def delete_picture(rng: random.Random) -> Draft:
    colors, files = _pictures(rng, rng.randint(3, 5))
    index = rng.randrange(len(colors) - 1)
    names = sorted(files, key=lambda name: int(name[6:-4]))
    kept = [name for number, name in enumerate(names) if number != index]

    def delete(number: int) -> list[str]:
        """Go to picture ``number`` (until the viewer's title names it), Delete (until the "send to trash?" dialog,
        which has no title, has the focus), OK (until the file is gone)."""
        name = names[number]
        moves = [join(press("right", number), window(f"^{re.escape(name)} "))] if number else []
        return [*moves, join(press("delete"), window("Image Viewer", absent=True)),
                join(hotkey("alt", "o"), path_wait(f"~/Photos/{name}", exists=False))]

    return Draft(
        instruction=f"The image viewer shows the pictures in ~/Photos. Delete the {colors[index]} one (moving it "
                    "to the trash is fine) and keep the others.",
        setup=[*(upload(name, f"~/Photos/{name}") for name in names), *_viewer(names[0])],
        evaluator=cmd_equals("ls ~/Photos", "".join(f"{name}\n" for name in kept)),
        solution=[*delete(index), "DONE"], near_miss=[*delete(index + 1), "DONE"],
        params={"colors": colors, "delete": names[index]}, files=files)


@template("viewer-read-code", "image_viewer", (*APPS, "mousepad"))
def read_code(rng: random.Random) -> Draft:
    code = f"{rng.randint(1000, 9999)}"
    wrong = code[::-1] if code[::-1] != code else str(int(code) + 1)
    color = rng.choice(("blue", "purple", "black", "green"))
    return Draft(
        instruction="The picture open in the image viewer shows a four-digit code. Write just that code into "
                    "~/code.txt, which is open in the text editor, and save it.",
        setup=[upload("code.png", "~/Photos/code.png"), sh("touch ~/code.txt"), *_viewer("code.png"),
               *editor("~/code.txt")],
        evaluator=cmd_equals("cat ~/code.txt", code + "\n"),
        solution=[write(code + "\n"), save_and_wait("~/code.txt"), "DONE"],
        near_miss=[write(wrong + "\n"), save_and_wait("~/code.txt"), "DONE"],
        params={"code": code}, files={"code.png": png(COLORS[color], text=code)})
