"""Our own stand-ins for OSWorld's downloaded files (step_envs.osworld.made_files): made the same every time, laid
out where load_osworld's file cache finds them, and fit for the checks their tasks run."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from step_envs.checkers.metrics.images import check_image_mirror, check_triangle_position
from step_envs.osworld.made_files import _PHP_FILES, MADE, NOT_MADE, _xcf, make_mirror
from step_envs.tasks import load_osworld

EXAMPLES = Path(__file__).parent / "data" / "osworld" / "examples"
BERRY = "72f83cdc-bf76-4531-9a1b-eb893a13f8aa"
QUICK = ["gimp/72f83cdc", "gimp/734d6579", "gimp/e2dd0213", "gimp/f4aec372", "libreoffice_calc/357ef137",
         "libreoffice_impress/ac9bb6cb", "libreoffice_writer/0e763496", "multi_apps/2c9fc0de", "os/4127319a",
         "os/5ea617a3", "os/23393935"]
"""Tasks whose files need no FFmpeg (quick to make)."""


def test_the_mirror_is_made_the_same_every_time_and_laid_out_domain_id_file(tmp_path):
    first = make_mirror(tmp_path / "a", QUICK)
    second = make_mirror(tmp_path / "b", QUICK)
    assert [p.relative_to(tmp_path / "a") for p in first] == [p.relative_to(tmp_path / "b") for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    names = {str(p.relative_to(tmp_path / "a")) for p in first}
    assert f"gimp/{BERRY}/berry.png" in names
    assert "libreoffice_calc/357ef137-7eeb-4c80-a3bb-0951f26a8aff/Multiply_Time_Number.xlsx" in names
    assert len({p.parent for p in first}) == len(QUICK)
    again = make_mirror(tmp_path / "a", QUICK)  # a second build leaves identical files as they are
    assert [p.stat().st_mtime_ns for p in again] == [p.stat().st_mtime_ns for p in first]
    assert not set(MADE) & set(NOT_MADE)


def test_office_files_carry_fixed_dates(tmp_path):
    [sheet] = make_mirror(tmp_path, ["libreoffice_calc/357ef137"])
    with zipfile.ZipFile(sheet) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2024, 1, 1, 0, 0, 0)}
        assert b"2024-01-01T00:00:00Z" in archive.read("docProps/core.xml")


def test_a_drive_download_is_read_from_the_mirror_by_the_name_it_is_saved_as(tmp_path):
    fixture = EXAMPLES / "gimp" / f"{BERRY}.json"
    [offline] = load_osworld(fixture)
    assert offline.supported and [r.name for r in offline.network] == ["download"]
    make_mirror(tmp_path, [f"gimp/{BERRY}"])
    [item] = load_osworld(fixture, file_cache=tmp_path)
    assert item.supported and not item.network, item.network
    files = item.task.config[0]["parameters"]["files"]
    assert files == [{"url": (tmp_path / "gimp" / BERRY / "berry.png").resolve().as_uri(), "path": "~/Desktop/berry.png"}]


def test_every_made_task_of_osworld_runs_offline_with_the_mirror(tmp_path):
    """The made files cover each task's downloads: with the mirror a task OSWorld would fetch them for needs no
    network (the tasks are written here in OSWorld's format, URLs Drive-style, the files named as OSWorld's)."""
    tasks = tmp_path / "tasks"
    for key, files in MADE.items():
        domain, task_id = key.split("/")
        data = {"id": task_id, "instruction": "x", "config": [{"type": "download", "parameters": {"files": [
            {"url": f"https://drive.example.org/uc?id={task_id}-{n}", "path": f"/home/user/Desktop/{name}"}
            for n, name in enumerate(files)]}}], "evaluator": {"func": "infeasible"}}
        (tasks / domain).mkdir(parents=True, exist_ok=True)
        (tasks / domain / f"{task_id}.json").write_text(json.dumps(data))
    cache = tmp_path / "cache"
    for key, files in MADE.items():  # empty stand-ins: this checks the layout, the other tests the contents
        for name in files:
            (cache / key).mkdir(parents=True, exist_ok=True)
            (cache / key / name).write_bytes(b"")
    loaded = load_osworld(tasks, file_cache=cache)
    assert len(loaded) == len(MADE) and all(item.supported and not item.network for item in loaded)


def test_made_pictures_suit_their_checks(tmp_path):
    paths = {p.name: p for p in make_mirror(tmp_path, ["gimp/72f83cdc", "gimp/f4aec372", "gimp/734d6579"])}
    berry = str(paths["berry.png"])
    flipped = tmp_path / "flipped.png"
    Image.open(berry).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(flipped)
    assert check_image_mirror(berry, berry).value == 0.0  # not symmetric: the untouched picture is no answer
    assert check_image_mirror(str(flipped), berry).value == 1.0
    assert check_triangle_position(str(paths["Triangle_On_The_Side.png"])).value == 0.0
    original = np.asarray(Image.open(paths["white_background_with_object.png"]))
    assert set(np.unique(original)) == {0, 255}  # the object pure black, the rest white: what the check assumes


def test_the_xcf_writer_stores_layers_gimp_reads(tmp_path):
    """The layer table, names, offsets and uncompressed RGBA tiles of XCF version 0, read back by hand."""
    import struct

    top = Image.new("RGBA", (70, 10), (1, 2, 3, 255))
    data = _xcf((100, 80), [("Top", top, (5, 6)), ("Background", Image.new("RGBA", (100, 80), "white"), (0, 0))])
    assert data.startswith(b"gimp xcf file\0") and struct.unpack(">III", data[14:26]) == (100, 80, 0)
    first = struct.unpack(">I", data[26 + 17:26 + 21])[0]
    width, height, kind, length = struct.unpack(">IIII", data[first:first + 16])
    assert (width, height, kind) == (70, 10, 1) and data[first + 16:first + 16 + length] == b"Top\0"
    assert struct.pack(">IIii", 15, 8, 5, 6) in data
    assert bytes([1, 2, 3, 255]) * 64 in data  # the first tile row of the top layer, interleaved RGBA


def test_stand_ins_hold_what_the_rules_expect(tmp_path):
    assert sum(len(lines) for lines in _PHP_FILES.values()) == 54  # os/4127319a's rule: "54\n"
    paths = {p.name: p for p in make_mirror(tmp_path, ["libreoffice_calc/357ef137", "multi_apps/2c9fc0de"])}
    import openpyxl

    sheet = openpyxl.load_workbook(paths["Multiply_Time_Number.xlsx"]).active
    hours = sum(cell.value.hour + cell.value.minute / 60 for (cell,) in sheet["B2:B6"])
    assert abs(hours * sheet["E2"].value - 191.6667) < 0.001  # the rule's E3 is the right answer here
    assert sheet["E3"].value == "=E1*E2"  # and the sheet starts with the product the task says is wrong
    with zipfile.ZipFile(io.BytesIO(paths["binder.zip"].read_bytes())) as archive:
        assert archive.namelist()[0] == "binder/" and "binder/README.md" in archive.namelist()


def test_a_mirrored_file_whose_name_has_spaces_is_found_by_the_setup(tmp_path):
    """The cache hands the setup a file:// URL, %-encoded (a space is %20); the setup reads the file it names."""
    from step_envs.tasks.steps import local_source

    folder = tmp_path / "vlc" / "8d9fd4e2-6fdb-46b0-b9b9-02f06495c62f"
    folder.mkdir(parents=True)
    (folder / "Gen 2.mp4").write_bytes(b"video")
    data = {"id": folder.name, "instruction": "x", "config": [{"type": "download", "parameters": {"files": [
        {"url": "https://drive.example.org/uc?id=gen-2", "path": "/home/user/Desktop/Gen 2.mp4"}]}}],
            "evaluator": {"func": "infeasible"}}
    task = tmp_path / "tasks" / "vlc" / f"{folder.name}.json"
    task.parent.mkdir(parents=True)
    task.write_text(json.dumps(data))
    [item] = load_osworld(task, file_cache=tmp_path)
    url = item.task.config[0]["parameters"]["files"][0]["url"]
    assert "%20" in url and local_source(url, None).read_bytes() == b"video"
