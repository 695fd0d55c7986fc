"""Reading and writing device state over adb: settings, content providers, files, sqlite, activities.

Each helper issues one documented adb command (docs/android.md's task table lists them) and parses what stock
Android prints, so task checks read like AndroidWorld's: ``settings_get(adb, "global", "wifi_on") == "1"``.
"""

from __future__ import annotations

import re
import shlex
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from step_envs.providers.adb import AdbError, AdbRunner, shell

NAMESPACES = ("system", "secure", "global")
_ROW = re.compile(r"^Row: \d+ (.*)$")


def settings_get(adb: AdbRunner, namespace: str, key: str) -> str:
    """``adb shell settings get NAMESPACE KEY``; ``"null"`` when the key is unset."""
    return shell(adb, f"settings get {namespace} {key}").strip()


def settings_put(adb: AdbRunner, namespace: str, key: str, value: str | int) -> None:
    """``adb shell settings put NAMESPACE KEY VALUE``."""
    shell(adb, f"settings put {namespace} {key} {shlex.quote(str(value))}")


def getprop(adb: AdbRunner, name: str) -> str:
    """``adb shell getprop NAME``."""
    return shell(adb, f"getprop {name}").strip()


def parse_content_rows(output: str, projection: Sequence[str]) -> list[dict[str, str]]:
    """Rows printed by ``content query --projection a:b``: ``Row: 0 a=1, b=x, y`` -> ``[{"a": "1", "b": "x, y"}]``.

    Values may contain ``", "``, so a field ends only where the next projected key starts.
    """
    split = re.compile(", (?=(?:" + "|".join(re.escape(key) for key in projection) + ")=)")
    rows = []
    for line in output.splitlines():
        match = _ROW.match(line.strip())
        if not match:
            continue
        row = {}
        for part in split.split(match.group(1)):
            key, _, value = part.partition("=")
            row[key] = "" if value == "NULL" else value
        rows.append(row)
    return rows


def content_query(adb: AdbRunner, uri: str, projection: Sequence[str], where: str | None = None) -> list[dict[str, str]]:
    """``adb shell content query --uri URI --projection a:b [--where W]`` parsed into rows."""
    command = f"content query --uri {uri} --projection {':'.join(projection)}"
    if where:
        command += f" --where {shlex.quote(where)}"
    output = shell(adb, command)
    if "Error while accessing provider" in output or output.lstrip().startswith("Exception"):
        raise AdbError(f"`{command}` failed: {output.strip()[-300:]}")
    return parse_content_rows(output, projection)


def _bind(key: str, value: str | int | None) -> str:
    """One ``--bind``: None as ``n`` (NULL), ints as ``i`` or ``l`` (past 32 bits), the rest as ``s``."""
    if value is None:
        return f"--bind {key}:n:"
    if isinstance(value, int):
        return f"--bind {key}:{'i' if -2**31 <= value < 2**31 else 'l'}:{value}"
    return f"--bind {key}:s:{shlex.quote(value)}"


def content_insert(adb: AdbRunner, uri: str, values: dict[str, str | int | None]) -> None:
    """``adb shell content insert --uri URI --bind KEY:TYPE:VALUE ...``."""
    shell(adb, f"content insert --uri {uri} " + " ".join(_bind(key, value) for key, value in values.items()))


def content_delete(adb: AdbRunner, uri: str, where: str | None = None) -> None:
    """``adb shell content delete --uri URI [--where W]``."""
    shell(adb, f"content delete --uri {uri}" + (f" --where {shlex.quote(where)}" if where else ""))


def path_exists(adb: AdbRunner, path: str) -> bool:
    """``[ -e PATH ]`` on the device (printed, not the exit code: adb versions differ in passing it on)."""
    return shell(adb, f"[ -e {shlex.quote(path)} ] && echo yes || echo no").strip() == "yes"


def is_directory(adb: AdbRunner, path: str) -> bool:
    return shell(adb, f"[ -d {shlex.quote(path)} ] && echo yes || echo no").strip() == "yes"


def list_dir(adb: AdbRunner, path: str) -> list[str]:
    """Names in a device directory (``ls -1``); empty when it does not exist."""
    output = shell(adb, f"ls -1 {shlex.quote(path)} 2>/dev/null")
    return [name for name in output.splitlines() if name.strip()]


def write_file(adb: AdbRunner, path: str, text: str) -> None:
    """Create a file with ``text`` (and its directory) on the device."""
    directory = path.rsplit("/", 1)[0] or "/"
    shell(adb, f"mkdir -p {shlex.quote(directory)} && printf %s {shlex.quote(text)} > {shlex.quote(path)}")


def pull(adb: AdbRunner, path: str) -> bytes:
    """A device file's bytes (``adb exec-out cat PATH``: binary-safe, no temp file on the device)."""
    return adb.run(["exec-out", "cat", path])


def sqlite_query(adb: AdbRunner, device_path: str, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """Pull an app's sqlite database and run ``sql`` on it here (app databases need ``adb root``)."""
    data = pull(adb, device_path)
    if not data.startswith(b"SQLite format 3\0"):
        raise AdbError(f"{device_path} is not a sqlite database on the device (got {data[:60]!r}); "
                       "app databases need a rootable image (`adb root`)")
    with tempfile.TemporaryDirectory(prefix="step-gym-db-") as tmp:
        local = Path(tmp) / "pulled.db"
        local.write_bytes(data)
        connection = sqlite3.connect(local)
        try:
            connection.row_factory = sqlite3.Row
            return connection.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise AdbError(f"query on {device_path} failed: {exc}") from exc
        finally:
            connection.close()


def installed_package(adb: AdbRunner, candidates: Sequence[str]) -> str:
    """The first of ``candidates`` installed on the device (``pm list packages``): AOSP and Google builds name
    the same app differently (``com.android.deskclock`` / ``com.google.android.deskclock``)."""
    output = shell(adb, "pm list packages")
    installed = {line.removeprefix("package:").strip() for line in output.splitlines()}
    for package in candidates:
        if package in installed:
            return package
    raise AdbError(f"none of {', '.join(candidates)} is installed on the device")


_RESUMED = re.compile(r"(?:mResumedActivity|topResumedActivity)[:=].*?\s([\w.]+)/([\w.$]+)")


def current_activity(adb: AdbRunner) -> tuple[str, str] | None:
    """(package, activity) in the foreground (``dumpsys activity activities``), or None when none is."""
    output = shell(adb, "dumpsys activity activities")
    match = _RESUMED.search(output)
    if not match:
        return None
    package, activity = match.groups()
    return package, activity if not activity.startswith(".") else package + activity


def digits(phone: str) -> str:
    """A phone number's digits, last 10 (so +1 555-0100 and 5550100 compare by what was dialled)."""
    return re.sub(r"\D", "", phone)[-10:]
