"""File manager templates: folders and files in Thunar, open on the home folder, driven by the keyboard. Each action
waits until what its keys do has happened (Thunar handled them, the dialog they open has the focus, the file is
there or gone), not for a fixed time: on a loaded machine that can take seconds."""

from __future__ import annotations

import random
import re

from step_envs.tasks.templates.base import Draft, template
from step_envs.tasks.templates.steps import (
    cmd_equals,
    hotkey,
    idle_wait,
    join,
    path_wait,
    press,
    sh,
    thunar,
    window,
    write,
)
from step_envs.tasks.templates.vocab import FOLDERS, WORDS

APPS = ("thunar",)


def select(name: str) -> str:
    """Action: select ``name`` in the Thunar view by typing its start (type-ahead find), then leave the search box
    once Thunar has found it."""
    return join(write(name), idle_wait(2.5), press("escape"), idle_wait(2.5))


def open_folder(name: str) -> str:
    """Action: select the folder ``name`` and open it (until the window's title names it)."""
    return join(select(name), press("enter"), window(f"^{re.escape(name)} - ", timeout=4.5))


def paste(target: str) -> str:
    """Action: paste, until ``target`` (``~/...``) exists and has its content (the files here are not empty)."""
    wait = path_wait(target).replace("not os.path.exists(_path)",
                                     "not (os.path.exists(_path) and os.path.getsize(_path))")
    return join(hotkey("ctrl", "v"), wait)


def new_folder_dialog() -> str:
    """Action: Ctrl+Shift+N, until the "Create New Folder" dialog has the focus."""
    return join(hotkey("ctrl", "shift", "n"), window("^Create New Folder"))


def rename_dialog() -> str:
    """Action: F2, until the "Rename ..." dialog has the focus."""
    return join(press("f2"), window("^Rename "))


def delete_confirmed(path: str) -> list[str]:
    """Actions: Delete (until Thunar's "Attention" question has the focus: without a trash, no gvfs here, it asks
    before deleting for good), Enter (until ``path`` is gone)."""
    return [join(press("delete"), window("^Attention")), join(press("enter"), path_wait(path, exists=False))]


def _names_present(command: str, include: list[str], exclude: list[str]) -> dict:
    return {"func": "check_include_exclude", "result": {"type": "vm_command_line", "command": command, "shell": True},
            "expected": {"type": "rule", "rules": {"include": include, "exclude": exclude}}}


@template("files-new-folder", "file_manager", APPS)
def new_folder(rng: random.Random) -> Draft:
    name = rng.choice(FOLDERS)
    return Draft(
        instruction=f"In the file manager, create a folder named {name} in your home folder.",
        setup=[*thunar()], evaluator=cmd_equals(f"test -d ~/{name} && echo yes", "yes\n"),
        solution=[new_folder_dialog(), write(name + "\n"), path_wait(f"~/{name}"), "DONE"],
        near_miss=[new_folder_dialog(), write(name.lower() + "\n"), path_wait(f"~/{name.lower()}"), "DONE"],
        params={"folder": name})


@template("files-rename-file", "file_manager", APPS)
def rename(rng: random.Random) -> Draft:
    old, new = rng.sample(WORDS, 2)
    others = [w for w in rng.sample(WORDS, 3) if w not in (old, new)][:2]
    rename_to = [select(old), rename_dialog(), hotkey("ctrl", "a")]
    return Draft(
        instruction=f"In the file manager, rename {old}.txt in your home folder to {new}.txt.",
        setup=[sh(" && ".join(f"echo {w} > ~/{w}.txt" for w in [old, *others])), *thunar()],
        evaluator=_names_present("ls ~", [f"{new}.txt", *(f"{w}.txt" for w in others)], [f"{old}.txt"]),
        solution=[*rename_to, write(f"{new}.txt\n"), path_wait(f"~/{new}.txt"), "DONE"],
        near_miss=[*rename_to, write(f"{new}\n"), path_wait(f"~/{new}"), "DONE"],
        params={"old": f"{old}.txt", "new": f"{new}.txt"})


def _transfer(rng: random.Random, cut: bool) -> Draft:
    name, decoy = rng.sample(WORDS, 2)
    extension = rng.choice(("txt", "csv", "png"))
    folder, other_folder = rng.sample(FOLDERS, 2)
    verb = "move" if cut else "copy"
    setup = sh(f"printf {name} > ~/{name}.{extension} && printf {decoy} > ~/{decoy}.{extension} && "
               f"mkdir -p ~/{folder} ~/{other_folder}")
    if cut:
        check = cmd_equals(f"ls ~/{folder}; test -e ~/{name}.{extension} || echo moved", f"{name}.{extension}\nmoved\n")
    else:
        check = cmd_equals(f"cat ~/{folder}/{name}.{extension} ~/{name}.{extension}", f"{name}{name}")

    def steps(target: str) -> list[str]:
        return [select(name), hotkey("ctrl", "x" if cut else "c"), open_folder(target),
                paste(f"~/{target}/{name}.{extension}")]

    return Draft(
        instruction=f"Using the file manager, {verb} {name}.{extension} from your home folder into the {folder} "
                    "folder" + ("." if cut else ", keeping the original."),
        setup=[setup, *thunar()], evaluator=check,
        solution=[*steps(folder), "DONE"], near_miss=[*steps(other_folder), "DONE"],
        params={"file": f"{name}.{extension}", "folder": folder})


@template("files-copy-to-folder", "file_manager", APPS)
def copy_into_folder(rng: random.Random) -> Draft:
    return _transfer(rng, cut=False)


@template("files-move-to-folder", "file_manager", APPS)
def move_into_folder(rng: random.Random) -> Draft:
    return _transfer(rng, cut=True)


@template("files-trash-file", "file_manager", APPS)
def trash_file(rng: random.Random) -> Draft:
    names = rng.sample(WORDS, 4)
    target, neighbour = names[0], names[1]
    return Draft(
        instruction=f"Using the file manager, delete {target}.txt from your home folder (moving it to the trash is "
                    "fine); keep the other files.",
        setup=[sh(" && ".join(f"echo {w} > ~/{w}.txt" for w in names)), *thunar()],
        evaluator=_names_present("ls ~", [f"{w}.txt" for w in names[1:]], [f"{target}.txt"]),
        solution=[select(target), *delete_confirmed(f"~/{target}.txt"), "DONE"],
        near_miss=[select(neighbour), *delete_confirmed(f"~/{neighbour}.txt"), "DONE"],
        params={"file": f"{target}.txt"})
