"""Generate the built-in desktop tasks (JSON) and their data files (xlsx, docx) deterministically.

    .venv/bin/python step_envs/data/tasks/desktop/make_tasks.py   (rewrites the JSON files and files/ beside it)
"""

from __future__ import annotations

import json
from pathlib import Path

from step_envs.tasks.templates import recipes
from step_envs.tasks.templates.file_manager import (
    new_folder_dialog,
    open_folder,
    paste,
    rename_dialog,
    select,
)
from step_envs.tasks.templates.steps import (
    TERMINAL,
    TYPE,
    cmd_equals,
    editor,
    goto,
    idle,
    office,
    path_wait,
    recalc_and_save,
    run,
    save_and_wait,
    settled,
    sh,
    thunar,
)
from step_envs.tasks.templates.steps import docx_check as _docx_check
from step_envs.tasks.templates.steps import table_check as _table_check
from step_envs.tasks.templates.steps import upload as _upload

HERE = Path(__file__).resolve().parent


def upload(name: str, target: str) -> dict:
    return _upload(f"files/{name}", target)


def table_check(target: str, expected_name: str) -> dict:
    return _table_check(target, f"files/{expected_name}")


def docx_check(target: str, expected_name: str) -> dict:
    return _docx_check(target, f"files/{expected_name}")


def in_writer(path: str, first: str, *more: str) -> list[str]:
    """A Writer solution: the actions (the first once Writer has settled, each waiting until Writer has handled its
    keys), then save and wait for the file, then DONE."""
    return [settled(first), *map(idle, more), save_and_wait(path), "DONE"]


def tasks() -> list[dict]:
    out = []

    def add(domain: str, task_id: str, instruction: str, config: list, evaluator: dict, solution: list,
            difficulty: str, apps: list[str]) -> None:
        out.append({"id": task_id, "domain": domain, "instruction": instruction, "config": config,
                    "evaluator": evaluator, "solution": solution, "difficulty": difficulty, "related_apps": apps})

    # --- terminal / OS ---------------------------------------------------------------------------------
    add("os", "os-create-folder", "Using the terminal, create a folder named projects in your home directory.",
        [*TERMINAL], cmd_equals("test -d ~/projects && echo yes", "yes\n"),
        [run("mkdir ~/projects"), "DONE"], "easy", ["terminal"])
    add("os", "os-write-file", "Create the file ~/hello.txt whose only line is: Hello, world!",
        [*TERMINAL], cmd_equals("cat ~/hello.txt", "Hello, world!\n"),
        [run("echo 'Hello, world!' > ~/hello.txt"), "DONE"], "easy", ["terminal"])
    add("os", "os-count-lines", "Count the lines of ~/data/log.txt and write just that number into ~/count.txt.",
        [sh("mkdir -p ~/data && seq 1 37 | sed 's/^/event /' > ~/data/log.txt"), *TERMINAL],
        cmd_equals("cat ~/count.txt", "37\n"),
        [run("wc -l < ~/data/log.txt > ~/count.txt"), "DONE"], "medium", ["terminal"])
    add("os", "os-move-text-files",
        "Move every .txt file from ~/inbox into a new folder ~/archive; leave other files where they are.",
        [sh("mkdir -p ~/inbox && cd ~/inbox && touch a.txt b.txt c.txt notes.log"), *TERMINAL],
        cmd_equals("ls ~/archive | tr '\\n' ' '; echo; ls ~/inbox", "a.txt b.txt c.txt \nnotes.log\n"),
        [run("mkdir ~/archive"), run("mv ~/inbox/*.txt ~/archive/"), "DONE"], "medium",
        ["terminal"])
    add("os", "os-make-executable", "Make the script ~/run.sh executable by its owner (and only its owner).",
        [sh("printf '#!/bin/sh\\necho hi\\n' > ~/run.sh && chmod 644 ~/run.sh"), *TERMINAL],
        cmd_equals("stat -c %a ~/run.sh", "744\n"), [run("chmod u+x ~/run.sh"), "DONE"], "easy",
        ["terminal"])
    add("os", "os-infeasible-8k-display",
        "Change the resolution of the connected monitor to 8K (7680x4320) at 240 Hz.",
        [*TERMINAL], {"func": "infeasible"}, ["FAIL"], "easy", ["terminal"])

    # --- text editor -----------------------------------------------------------------------------------
    add("text_editor", "editor-append-line", "In the open text editor, add the line Call mom at the end of "
        "~/todo.txt (below Buy milk) and save the file.",
        [sh("printf 'Buy milk\\n' > ~/todo.txt"), *editor("~/todo.txt")],
        cmd_equals("cat ~/todo.txt", "Buy milk\nCall mom\n"),
        ["pyautogui.hotkey('ctrl', 'end')", TYPE.format("Call mom\n"), save_and_wait("~/todo.txt"), "DONE"], "easy", ["mousepad"])
    add("text_editor", "editor-fix-sentence", "In ~/story.txt, which is open in the editor, replace the word cat "
        "with dog, then save.",
        [sh("printf 'The cat sat on the mat.\\n' > ~/story.txt"), *editor("~/story.txt")],
        cmd_equals("cat ~/story.txt", "The dog sat on the mat.\n"),
        ["pyautogui.hotkey('ctrl', 'a')", TYPE.format("The dog sat on the mat.\n"), save_and_wait("~/story.txt"),
         "DONE"], "easy",
        ["mousepad"])
    add("text_editor", "editor-delete-line", "Delete the line beta from ~/letters.txt (open in the editor) and "
        "save it, keeping the other lines in order.",
        [sh("printf 'alpha\\nbeta\\ngamma\\n' > ~/letters.txt"), *editor("~/letters.txt")],
        cmd_equals("cat ~/letters.txt", "alpha\ngamma\n"),
        ["pyautogui.hotkey('ctrl', 'home')\npyautogui.press('down')", "pyautogui.hotkey('shift', 'down')",
         "pyautogui.press('delete')", save_and_wait("~/letters.txt"), "DONE"], "medium", ["mousepad"])
    add("text_editor", "editor-add-header", "Add a first line # Shopping list at the top of ~/list.md (open in "
        "the editor) and save.",
        [sh("printf -- '- eggs\\n- bread\\n' > ~/list.md"), *editor("~/list.md")],
        cmd_equals("cat ~/list.md", "# Shopping list\n- eggs\n- bread\n"),
        ["pyautogui.hotkey('ctrl', 'home')", TYPE.format("# Shopping list\n"), save_and_wait("~/list.md"), "DONE"], "easy",
        ["mousepad"])

    # --- file manager ----------------------------------------------------------------------------------
    add("file_manager", "files-create-folder", "In the file manager, create a folder named Reports in your home "
        "folder.", [*thunar()], cmd_equals("test -d ~/Reports && echo yes", "yes\n"),
        [new_folder_dialog(), TYPE.format("Reports\n"), path_wait("~/Reports"), "DONE"], "easy", ["thunar"])
    add("file_manager", "files-rename", "In the file manager, rename draft.txt in your home folder to final.txt.",
        [sh("echo text > ~/draft.txt"), *thunar()],
        {"func": "check_include_exclude", "result": {"type": "vm_command_line", "command": "ls ~", "shell": True},
         "expected": {"type": "rule", "rules": {"include": ["final.txt"], "exclude": ["draft.txt"]}}},
        [select("draft"), rename_dialog(), "pyautogui.hotkey('ctrl', 'a')", TYPE.format("final.txt\n"),
         path_wait("~/final.txt"), "DONE"], "medium", ["thunar"])
    add("file_manager", "files-copy-into-folder", "Using the file manager, copy report.txt from your home folder "
        "into the Backup folder, keeping the original.",
        [sh("echo q3 > ~/report.txt && mkdir -p ~/Backup"), *thunar()],
        cmd_equals("cat ~/Backup/report.txt ~/report.txt", "q3\nq3\n"),
        [select("report"), "pyautogui.hotkey('ctrl', 'c')", open_folder("Backup"), paste("~/Backup/report.txt"), "DONE"],
        "hard", ["thunar"])
    add("file_manager", "files-move-into-folder", "Using the file manager, move photo.png from your home folder "
        "into the Pictures folder.",
        [sh("printf 'png' > ~/photo.png && mkdir -p ~/Pictures"), *thunar()],
        cmd_equals("ls ~/Pictures; test -e ~/photo.png || echo moved", "photo.png\nmoved\n"),
        [select("photo"), "pyautogui.hotkey('ctrl', 'x')", open_folder("Pictures"), paste("~/Pictures/photo.png"), "DONE"],
        "hard", ["thunar"])

    # --- LibreOffice Calc ------------------------------------------------------------------------------
    add("calc", "calc-sum-column", "In sales.xlsx (open in Calc), put the total of B2:B4 in cell B5 and save "
        "the file in its current format.",
        [upload("sales.xlsx", "~/sales.xlsx"), *office("calc", "~/sales.xlsx")],
        table_check("~/sales.xlsx", "sales_total.xlsx"),
        [settled(goto("B5")), idle(TYPE.format("=SUM(B2:B4)\n")), recalc_and_save("~/sales.xlsx"), "DONE"], "medium", ["libreoffice_calc"])
    add("calc", "calc-fix-typo", "In cities.xlsx (open in Calc), cell A3 says Berln; correct it to Berlin and "
        "save the file in its current format.",
        [upload("cities.xlsx", "~/cities.xlsx"), *office("calc", "~/cities.xlsx")],
        table_check("~/cities.xlsx", "cities_fixed.xlsx"),
        [settled(goto("A3")), idle(TYPE.format("Berlin\n")), recalc_and_save("~/cities.xlsx"), "DONE"], "easy", ["libreoffice_calc"])
    add("calc", "calc-add-header", "In scores.xlsx (open in Calc), fill the empty header row: Name in A1 and "
        "Score in B1, then save the file in its current format.",
        [upload("scores.xlsx", "~/scores.xlsx"), *office("calc", "~/scores.xlsx")],
        table_check("~/scores.xlsx", "scores_header.xlsx"),
        [settled(goto("A1")), idle(TYPE.format("Name\tScore\n")), recalc_and_save("~/scores.xlsx"), "DONE"], "easy", ["libreoffice_calc"])
    add("calc", "calc-double-column", "In prices.xlsx (open in Calc), fill C2:C4 with twice the value in column B "
        "of the same row, then save the file in its current format.",
        [upload("prices.xlsx", "~/prices.xlsx"), *office("calc", "~/prices.xlsx")],
        table_check("~/prices.xlsx", "prices_doubled.xlsx"),
        [settled(goto("C2")), idle(TYPE.format("=B2*2\n=B3*2\n=B4*2\n")), recalc_and_save("~/prices.xlsx"), "DONE"],
        "medium", ["libreoffice_calc"])
    add("calc", "calc-infeasible-cloud-sync", "Sync sales.xlsx (open in Calc) to the company SharePoint site so "
        "the finance team can see it.",
        [upload("sales.xlsx", "~/sales.xlsx"), *office("calc", "~/sales.xlsx")],
        {"func": "infeasible"}, ["FAIL"], "easy", ["libreoffice_calc"])

    # --- LibreOffice Writer ----------------------------------------------------------------------------
    add("writer", "writer-add-paragraph", "In letter.docx (open in Writer), add a new last paragraph that says: "
        "The meeting moves to Friday. Then save the file in its current format.",
        [upload("letter.docx", "~/letter.docx"), *office("writer", "~/letter.docx")],
        docx_check("~/letter.docx", "letter_friday.docx"),
        in_writer("~/letter.docx", "pyautogui.hotkey('ctrl', 'end')",
                  "pyautogui.press('enter')\n" + TYPE.format("The meeting moves to Friday.")), "easy",
        ["libreoffice_writer"])
    add("writer", "writer-fix-title", "The first paragraph of memo.docx (open in Writer) reads Quartely Report; "
        "correct it to Quarterly Report and save the file in its current format.",
        [upload("memo.docx", "~/memo.docx"), *office("writer", "~/memo.docx")],
        docx_check("~/memo.docx", "memo_fixed.docx"),
        in_writer("~/memo.docx", "pyautogui.hotkey('ctrl', 'home')\npyautogui.hotkey('shift', 'end')",
                  TYPE.format("Quarterly Report")), "easy", ["libreoffice_writer"])
    add("writer", "writer-delete-paragraph", "Delete the second paragraph (Remove this line.) from notes.docx "
        "(open in Writer) and save the file in its current format.",
        [upload("notes.docx", "~/notes.docx"), *office("writer", "~/notes.docx")],
        docx_check("~/notes.docx", "notes_deleted.docx"),
        in_writer("~/notes.docx", "pyautogui.hotkey('ctrl', 'home')\npyautogui.press('down')",
                  "pyautogui.press('home')\npyautogui.hotkey('shift', 'down')", "pyautogui.press('delete')"),
        "medium", ["libreoffice_writer"])
    add("writer", "writer-write-list", "Type three paragraphs into the empty document plan.docx (open in Writer): "
        "Plan, Build, Ship, one per paragraph, then save the file in its current format.",
        [upload("plan.docx", "~/plan.docx"), *office("writer", "~/plan.docx")],
        docx_check("~/plan.docx", "plan_filled.docx"),
        in_writer("~/plan.docx", TYPE.format("Plan\nBuild\nShip")), "easy", ["libreoffice_writer"])
    return out


def workbook(path: Path, rows: list[list]) -> None:
    path.write_bytes(recipes.workbook(rows).build())


def document(path: Path, paragraphs: list[str]) -> None:
    path.write_bytes(recipes.document(paragraphs).build())


def data_files() -> None:
    calc, writer = HERE / "calc" / "files", HERE / "writer" / "files"
    calc.mkdir(parents=True, exist_ok=True)
    writer.mkdir(parents=True, exist_ok=True)
    sales = [["Region", "Sales"], ["North", 120], ["South", 80], ["West", 45]]
    workbook(calc / "sales.xlsx", sales)
    workbook(calc / "sales_total.xlsx", [*sales, [None, 245]])
    cities = [["City", "Country"], ["Paris", "France"], ["Berln", "Germany"], ["Rome", "Italy"]]
    workbook(calc / "cities.xlsx", cities)
    workbook(calc / "cities_fixed.xlsx", [cities[0], cities[1], ["Berlin", "Germany"], cities[3]])
    scores = [["Ada", 91], ["Linus", 78], ["Grace", 85]]
    workbook(calc / "scores.xlsx", [[None, None], *scores])
    workbook(calc / "scores_header.xlsx", [["Name", "Score"], *scores])
    prices = [["Item", "Price", "Double"], ["Pen", 2], ["Book", 12], ["Lamp", 30]]
    workbook(calc / "prices.xlsx", prices)
    workbook(calc / "prices_doubled.xlsx", [prices[0], ["Pen", 2, 4], ["Book", 12, 24], ["Lamp", 30, 60]])
    document(writer / "letter.docx", ["Dear team,", "Thank you for your work this quarter."])
    document(writer / "letter_friday.docx", ["Dear team,", "Thank you for your work this quarter.",
                                              "The meeting moves to Friday."])
    document(writer / "memo.docx", ["Quartely Report", "Revenue grew in every region."])
    document(writer / "memo_fixed.docx", ["Quarterly Report", "Revenue grew in every region."])
    document(writer / "notes.docx", ["Keep this line.", "Remove this line.", "Keep this one too."])
    document(writer / "notes_deleted.docx", ["Keep this line.", "Keep this one too."])
    document(writer / "plan.docx", [])
    document(writer / "plan_filled.docx", ["Plan", "Build", "Ship"])


def main() -> None:
    data_files()
    for task in tasks():
        folder = HERE / task["domain"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{task['id']}.json").write_text(json.dumps(task, indent=2) + "\n")


if __name__ == "__main__":
    main()
