"""LibreOffice's files for the office metrics: conversions between office formats (for documents openpyxl and
python-docx cannot read) and the settings LibreOffice saves in ``registrymodifications.xcu``."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree


@contextlib.contextmanager
def converted(path: str, extension: str, timeout: float = 120.0) -> Iterator[Path]:
    """``path`` converted to ``extension`` (``"xlsx"``, ``"docx"``) by ``soffice --headless``, in a temporary folder
    removed on exit. A fresh LibreOffice profile per call, so a LibreOffice already running cannot lock it."""
    soffice = shutil.which("soffice")
    if soffice is None:
        raise RuntimeError(f"reading {Path(path).name} needs LibreOffice (soffice) to convert it to .{extension}")
    with tempfile.TemporaryDirectory(prefix="step-gym-convert-") as folder:
        profile = (Path(folder) / "profile").as_uri()
        proc = subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", extension,
                               "--outdir", folder, path], capture_output=True, text=True, timeout=timeout)
        target = Path(folder) / f"{Path(path).stem}.{extension}"
        if not target.is_file():
            raise RuntimeError(f"soffice could not convert {Path(path).name} to .{extension}: {proc.stderr[-500:]}")
        yield target


_REGISTRY = "{http://openoffice.org/2001/registry}"


def libreoffice_setting(path: str, item: str, prop: str) -> str | None:
    """The value LibreOffice's settings file ``registrymodifications.xcu`` gives property ``prop`` of the item at
    ``item`` (e.g. ``/org.openoffice.Office.Common/Save/Document``, ``AutoSaveTimeIntervall``); None when the file
    does not set it (LibreOffice's default applies). The last setting wins."""
    found = None
    for element in ElementTree.parse(path).getroot().iter("item"):
        if element.get(f"{_REGISTRY}path") != item:
            continue
        for setting in element.iter("prop"):
            if setting.get(f"{_REGISTRY}name") == prop:
                value = setting.find("value")
                found = "" if value is None else value.text or ""
    return found
