"""Terminal / OS templates: files, folders, permissions and text tools from an open xfce4-terminal."""

from __future__ import annotations

import random

from step_envs.tasks.templates.base import Draft, infeasible_draft, template
from step_envs.tasks.templates.steps import TERMINAL, cmd_equals, run, sh, write_text
from step_envs.tasks.templates.vocab import FOLDERS, WORDS

APPS = ("terminal",)


@template("terminal-make-dirs", "os", APPS)
def make_dirs(rng: random.Random) -> Draft:
    parts = rng.sample(WORDS, rng.randint(2, 3))
    path = "~/" + "/".join(parts)
    return Draft(
        instruction=f"Using the terminal, create the folder {path} (and the folders above it).",
        setup=[*TERMINAL], evaluator=cmd_equals(f"test -d {path} && echo yes", "yes\n"),
        solution=[run(f"mkdir -p {path}"), "DONE"],
        near_miss=[run("mkdir -p ~/" + "/".join(parts[:-1])), "DONE"],
        params={"path": path})


@template("terminal-write-line", "os", APPS)
def write_line(rng: random.Random) -> Draft:
    name = rng.choice(WORDS)
    words = rng.sample(WORDS, 4)
    line = f"{words[0].capitalize()} {words[1]} {words[2]} {words[3]}."
    return Draft(
        instruction=f"Create the file ~/{name}.txt whose only line is: {line}",
        setup=[*TERMINAL], evaluator=cmd_equals(f"cat ~/{name}.txt", line + "\n"),
        solution=[run(f"echo '{line}' > ~/{name}.txt"), "DONE"],
        near_miss=[run(f"echo '{line[:-1]}' > ~/{name}.txt"), "DONE"],
        params={"file": f"~/{name}.txt", "line": line})


@template("terminal-count-lines", "os", APPS)
def count_lines(rng: random.Random) -> Draft:
    count, name = rng.randint(12, 95), rng.choice(WORDS)
    path = f"~/data/{name}.log"
    text = "".join(f"event {rng.choice(WORDS)} {index}\n" for index in range(count))
    return Draft(
        instruction=f"Count the lines of {path} and write just that number into ~/count.txt.",
        setup=[write_text(path, text), *TERMINAL], evaluator=cmd_equals("cat ~/count.txt", f"{count}\n"),
        solution=[run(f"wc -l < {path} > ~/count.txt"), "DONE"],
        near_miss=[run(f"wc -l {path} > ~/count.txt"), "DONE"],
        params={"file": path, "lines": count})


@template("terminal-move-by-extension", "os", APPS)
def move_by_extension(rng: random.Random) -> Draft:
    ext, other = rng.sample(("txt", "csv", "log", "md", "json"), 2)
    names = rng.sample(WORDS, 5)
    moved, kept = sorted(names[:3]), sorted(names[3:])
    dest = rng.choice(FOLDERS)
    files = " ".join([f"{n}.{ext}" for n in moved] + [f"{n}.{other}" for n in kept])
    expected = " ".join(f"{n}.{ext}" for n in moved) + " \n" + "\n".join(f"{n}.{other}" for n in kept) + "\n"
    return Draft(
        instruction=f"Move every .{ext} file from ~/inbox into a new folder ~/{dest}; leave the other files where "
                    "they are.",
        setup=[sh(f"mkdir -p ~/inbox && cd ~/inbox && touch {files}"), *TERMINAL],
        evaluator=cmd_equals(f"ls ~/{dest} | tr '\\n' ' '; echo; ls ~/inbox", expected),
        solution=[run(f"mkdir ~/{dest}"), run(f"mv ~/inbox/*.{ext} ~/{dest}/"), "DONE"],
        near_miss=[run(f"mkdir ~/{dest}"), run(f"cp ~/inbox/*.{ext} ~/{dest}/"), "DONE"],
        params={"extension": ext, "folder": dest, "moved": moved})


MODES = {"744": "executable by its owner (and only its owner); leave the other permissions as they are",
         "755": "executable by everyone; leave the other permissions as they are",
         "700": "readable, writable and executable by its owner and inaccessible to everyone else",
         "600": "readable and writable by its owner only, and not executable by anyone"}
NEAR_MODES = {"744": "a+x", "755": "u+x", "700": "u+x", "600": "go-r"}


@template("terminal-chmod", "os", APPS)
def chmod(rng: random.Random) -> Draft:
    mode, name = rng.choice(sorted(MODES)), rng.choice(WORDS)
    return Draft(
        instruction=f"Make the script ~/{name}.sh {MODES[mode]}.",
        setup=[sh(f"printf '#!/bin/sh\\necho hi\\n' > ~/{name}.sh && chmod 644 ~/{name}.sh"), *TERMINAL],
        evaluator=cmd_equals(f"stat -c %a ~/{name}.sh", f"{mode}\n"),
        solution=[run(f"chmod {mode} ~/{name}.sh"), "DONE"],
        near_miss=[run(f"chmod {NEAR_MODES[mode]} ~/{name}.sh"), "DONE"],
        params={"file": f"~/{name}.sh", "mode": mode})


@template("terminal-largest-file", "os", APPS)
def largest_file(rng: random.Random) -> Draft:
    names = rng.sample(WORDS, rng.randint(4, 6))
    sizes = rng.sample(range(200, 9000, 7), len(names))
    folder = "~/" + rng.choice(FOLDERS).lower()
    largest = names[sizes.index(max(sizes))]
    smallest = names[sizes.index(min(sizes))]
    create = " && ".join(f"head -c {size} /dev/zero > {folder}/{name}.bin" for name, size in zip(names, sizes,
                                                                                                   strict=True))
    return Draft(
        instruction=f"Write the name of the largest file in {folder} (just the file name) into ~/largest.txt.",
        setup=[sh(f"mkdir -p {folder} && {create}"), *TERMINAL],
        evaluator=cmd_equals("cat ~/largest.txt", f"{largest}.bin\n"),
        solution=[run(f"ls -S {folder} | head -n 1 > ~/largest.txt"), "DONE"],
        near_miss=[run(f"ls -Sr {folder} | head -n 1 > ~/largest.txt"), "DONE"],
        params={"folder": folder, "largest": f"{largest}.bin", "smallest": f"{smallest}.bin"})


@template("terminal-sort-lines", "os", APPS)
def sort_lines(rng: random.Random) -> Draft:
    words = rng.sample(WORDS, rng.randint(5, 8))
    name = rng.choice(("names", "words", "list", "items"))
    return Draft(
        instruction=f"Save the lines of ~/{name}.txt, sorted alphabetically, into ~/sorted.txt.",
        setup=[write_text(f"~/{name}.txt", "\n".join(words) + "\n"), *TERMINAL],
        evaluator=cmd_equals("cat ~/sorted.txt", "\n".join(sorted(words)) + "\n"),
        solution=[run(f"sort ~/{name}.txt > ~/sorted.txt"), "DONE"],
        near_miss=[run(f"sort -r ~/{name}.txt > ~/sorted.txt"), "DONE"],
        params={"file": f"~/{name}.txt", "lines": len(words)})


LEVELS = ("ERROR", "WARN", "INFO", "DEBUG")


@template("terminal-grep-count", "os", APPS)
def grep_count(rng: random.Random) -> Draft:
    counts = dict(zip(LEVELS, rng.sample(range(3, 30), len(LEVELS)), strict=True))
    lines = [f"{level} {rng.choice(WORDS)} {index}" for level, count in counts.items() for index in range(count)]
    rng.shuffle(lines)
    level, other = rng.sample(LEVELS, 2)
    return Draft(
        instruction=f"How many lines of ~/app.log contain {level}? Write just that number into ~/answer.txt.",
        setup=[write_text("~/app.log", "\n".join(lines) + "\n"), *TERMINAL],
        evaluator=cmd_equals("cat ~/answer.txt", f"{counts[level]}\n"),
        solution=[run(f"grep -c {level} ~/app.log > ~/answer.txt"), "DONE"],
        near_miss=[run(f"grep -c {other} ~/app.log > ~/answer.txt"), "DONE"],
        params={"level": level, "count": counts[level]})


@template("terminal-archive-folder", "os", APPS)
def archive_folder(rng: random.Random) -> Draft:
    folder = rng.choice(WORDS)
    names = sorted(rng.sample(WORDS, 3))
    expected = "".join(f"{entry}\n" for entry in sorted([folder] + [f"{folder}/{n}.txt" for n in names]))
    return Draft(
        instruction=f"Create a gzip-compressed tar archive ~/{folder}.tar.gz of the folder ~/{folder}.",
        setup=[sh(f"mkdir -p ~/{folder} && cd ~/{folder} && " + " && ".join(f"echo {n} > {n}.txt" for n in names)),
               *TERMINAL],
        evaluator=cmd_equals(f"cd ~ && tar -tzf {folder}.tar.gz | sed 's#/$##' | sort", expected),
        solution=[run(f"cd ~ && tar -czf {folder}.tar.gz {folder}"), "DONE"],
        near_miss=[run(f"cd ~ && tar -cf {folder}.tar.gz {folder}"), "DONE"],
        params={"folder": folder, "files": names})


@template("terminal-replace-word", "os", APPS)
def replace_word(rng: random.Random) -> Draft:
    old, new, *filler = rng.sample(WORDS, 6)
    lines = [f"the {old} and the {old} again", f"{filler[0]} {filler[1]}", f"one {old} by the {filler[2]}",
             f"{filler[3]} only"]
    name = rng.choice(("notes", "story", "draft"))
    expected = "".join(line.replace(old, new) + "\n" for line in lines)
    return Draft(
        instruction=f"In ~/{name}.txt, replace every occurrence of the word {old} with {new} (edit the file in "
                    "place).",
        setup=[write_text(f"~/{name}.txt", "\n".join(lines) + "\n"), *TERMINAL],
        evaluator=cmd_equals(f"cat ~/{name}.txt", expected),
        solution=[run(f"sed -i 's/{old}/{new}/g' ~/{name}.txt"), "DONE"],
        near_miss=[run(f"sed -i 's/{old}/{new}/' ~/{name}.txt"), "DONE"],
        params={"file": f"~/{name}.txt", "old": old, "new": new})


IMPOSSIBLE = ("Change the resolution of the connected monitor to 8K (7680x4320) at 240 Hz.",
              "Upgrade this computer's Linux kernel to version 9.0 and reboot into it.",
              "Connect this computer to the Wi-Fi network named CoffeeShop-5G.",
              "Print ~/report.txt on the office printer named HP-LaserJet-4th-floor.",
              "Pair the Bluetooth headphones named WH-1000XM5 with this computer.",
              "Install the Photoshop desktop app from the Snap Store.")


@template("terminal-infeasible", "os", APPS, seeds=3, feasible=False)
def infeasible(rng: random.Random) -> Draft:
    return infeasible_draft(rng, IMPOSSIBLE, [*TERMINAL], [run("echo done")])
