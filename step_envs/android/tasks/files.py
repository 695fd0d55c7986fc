"""Files tasks on shared storage (``/sdcard``), done in the Files app and checked with ``ls`` / ``[ -e ]``."""

from __future__ import annotations

import random
import shlex
from typing import Any

from step_envs.android import device
from step_envs.android.tasks.base import AndroidTask, register, verdict
from step_envs.checkers.registry import Score
from step_envs.providers.adb import AdbRunner, shell

FILES_APPS = ("com.android.documentsui", "com.google.android.documentsui")
DOWNLOAD = "/sdcard/Download"
DOCUMENTS = "/sdcard/Documents"
STEMS = ("invoice", "notes", "report", "itinerary", "receipt", "budget", "minutes", "draft", "summary", "letter")
FOLDERS = ("Projects", "Taxes", "Recipes", "Travel", "Archive", "Photos 2024", "School", "Work")


def random_files(rng: random.Random, count: int) -> list[str]:
    return [f"{stem}_{rng.randint(1, 99)}.txt" for stem in rng.sample(STEMS, count)]


def content_for(filename: str) -> str:
    """What setup writes into a file, so a check can tell the file was moved or renamed, not recreated."""
    return f"step-gym file {filename}\n"


class _FilesTask(AndroidTask):
    app, packages = "files", FILES_APPS

    def _paths(self) -> list[str]:
        return []

    def cleanup(self, adb: AdbRunner) -> None:
        paths = self._paths()
        if paths:
            shell(adb, "rm -rf " + " ".join(shlex.quote(path) for path in paths))


@register
class CreateFolder(_FilesTask):
    """Create a folder in Documents: it does not exist at the start; passes when the directory exists."""

    name, template = "files-create-folder", 'Create a folder named "{folder}" in Documents.'
    params_doc = {"folder": "a folder name"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"folder": rng.choice(FOLDERS)}

    def _paths(self) -> list[str]:
        return [f"{DOCUMENTS}/{self.params['folder']}"]

    def setup(self, adb: AdbRunner) -> None:
        self.cleanup(adb)
        shell(adb, f"mkdir -p {DOCUMENTS}")

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        path = self._paths()[0]
        return verdict(device.is_directory(adb, path), f"{path} exists", f"there is no folder {path}")


@register
class DeleteFile(_FilesTask):
    """Delete one of three files in Download: passes when it is gone and the other two are still there."""

    name, template = "files-delete", "Delete the file {filename} from the Download folder."
    params_doc = {"filename": "the file to delete", "keep": "two files in Download that must stay"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        filename, *keep = random_files(rng, 3)
        return {"filename": filename, "keep": keep}

    def _paths(self) -> list[str]:
        return [f"{DOWNLOAD}/{name}" for name in [self.params["filename"], *self.params["keep"]]]

    def setup(self, adb: AdbRunner) -> None:
        for path in self._paths():
            device.write_file(adb, path, content_for(path.rsplit("/", 1)[1]))

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        names = device.list_dir(adb, DOWNLOAD)
        if self.params["filename"] in names:
            return Score(0.0, f"{self.params['filename']} is still in Download")
        lost = [name for name in self.params["keep"] if name not in names]
        return verdict(not lost, f"{self.params['filename']} deleted, the others kept",
                       f"{self.params['filename']} deleted, but so were {lost}")


@register
class RenameFile(_FilesTask):
    """Rename a file in Download: passes when the old name is gone and the new one has the content."""

    name, template = "files-rename", "Rename the file {old} in the Download folder to {new}."
    difficulty, max_steps = "medium", 15
    params_doc = {"old": "the file's name", "new": "its new name"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        old, new = random_files(rng, 2)
        return {"old": old, "new": new}

    def _paths(self) -> list[str]:
        return [f"{DOWNLOAD}/{self.params['old']}", f"{DOWNLOAD}/{self.params['new']}"]

    def setup(self, adb: AdbRunner) -> None:
        self.cleanup(adb)
        device.write_file(adb, self._paths()[0], content_for(self.params["old"]))

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        old, new = self._paths()
        if device.path_exists(adb, old):
            return Score(0.0, f"{self.params['old']} is still there")
        if not device.path_exists(adb, new):
            return Score(0.0, f"there is no {self.params['new']} in Download")
        same = device.pull(adb, new).decode("utf-8", errors="replace") == content_for(self.params["old"])
        return verdict(same, "renamed, content intact", f"{self.params['new']} is not the original file")


@register
class MoveFile(_FilesTask):
    """Move a file from Download to Documents: passes when it is in Documents and no longer in Download."""

    name, template = "files-move", "Move the file {filename} from Download to Documents."
    difficulty, max_steps = "medium", 15
    params_doc = {"filename": "the file to move"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"filename": random_files(rng, 1)[0]}

    def _paths(self) -> list[str]:
        return [f"{DOWNLOAD}/{self.params['filename']}", f"{DOCUMENTS}/{self.params['filename']}"]

    def setup(self, adb: AdbRunner) -> None:
        self.cleanup(adb)
        device.write_file(adb, self._paths()[0], content_for(self.params["filename"]))
        shell(adb, f"mkdir -p {DOCUMENTS}")

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        source, target = self._paths()
        in_target, in_source = device.path_exists(adb, target), device.path_exists(adb, source)
        return verdict(in_target and not in_source, f"{self.params['filename']} is in Documents only",
                       f"in Documents: {in_target}, still in Download: {in_source}")
