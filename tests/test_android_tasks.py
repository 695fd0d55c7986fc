"""Every Android task against recorded adb responses: a success state scores 1, a failure state 0.

The responses are what stock Android prints for each command (``settings get`` values, ``content query`` rows,
``dumpsys`` lines, a real sqlite file for the Clock database), the way AndroidWorld tests its evaluators.
"""

from __future__ import annotations

import shlex
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from step_envs.android import device
from step_envs.android.tasks import ANDROID_TASKS, AndroidTask, make_task
from step_envs.android.tasks.files import content_for
from step_envs.providers.adb import AdbError, ReplayAdbRunner
from step_envs.tasks.model import TaskError

SEED = 7
NOW = 1_750_000_000  # 2025-06-15 15:06:40 UTC; 11:06:40 in New York
TZ = "America/New_York"
TOMORROW_NY = "2025-06-16"

Responses = dict[str, Any]
States = tuple[Responses, Responses, str | None, str | None]
"""(success responses, failure responses, the answer given in the success state, in the failure state)."""


def sh(command: str) -> str:
    return f"shell {command}"


def rows(*items: dict[str, Any]) -> str:
    if not items:
        return "No result found.\n"
    return "".join(f"Row: {i} " + ", ".join(f"{k}={v}" for k, v in row.items()) + "\n" for i, row in enumerate(items))


def toggle(key: str, on: str = "1", off: str = "0") -> Callable[[AndroidTask], States]:
    def states(task: AndroidTask) -> States:
        want, other = (on, off) if task.params["state"] == "on" else (off, on)
        return {sh(f"settings get {key}"): f"{want}\n"}, {sh(f"settings get {key}"): f"{other}\n"}, None, None
    return states


def dark_theme(task: AndroidTask) -> States:
    want = "yes" if task.params["state"] == "on" else "no"
    other = "no" if want == "yes" else "yes"
    return ({sh("cmd uimode night"): f"Night mode: {want}\n"}, {sh("cmd uimode night"): f"Night mode: {other}\n"},
            None, None)


def brightness(task: AndroidTask) -> States:
    key = sh("settings get system screen_brightness")
    good = "255" if task.params["level"] == "max" else "1"
    return {key: good + "\n"}, {key: "128\n"}, None, None


def screen_timeout(task: AndroidTask) -> States:
    key = sh("settings get system screen_off_timeout")
    return {key: f"{task.params['seconds'] * 1000}\n"}, {key: "45000\n"}, None, None


def font_size(task: AndroidTask) -> States:
    key = sh("settings get system font_scale")
    good = {"small": "0.85", "default": "1.0", "large": "1.15", "largest": "1.3"}[task.params["size"]]
    return {key: good + "\n"}, {key: "2.0\n"}, None, None


def resumed(component: str) -> str:
    return f"  ResumedActivity: ActivityRecord{{4f2c1a u0 {component} t12}}\n  mResumedActivity: ActivityRecord{{4f2c1a u0 {component} t12}}\n"


def open_app(task: AndroidTask) -> States:
    key = sh("dumpsys activity activities")
    package = task.packages[-1]
    return ({key: resumed(f"{package}/.MainActivity")},
            {key: resumed("com.google.android.apps.nexuslauncher/.NexusLauncherActivity")}, None, None)


def android_version(task: AndroidTask) -> States:
    key = sh("getprop ro.build.version.release")
    return {key: "14\n"}, {key: "14\n"}, "14", "Android 13"


PHONES = sh("content query --uri content://com.android.contacts/data/phones --projection display_name:data1")
RAW_IDS = sh("content query --uri content://com.android.contacts/raw_contacts --projection _id --where deleted=0")


def raw_ids(count: int) -> list[str]:
    """What the raw_contacts query prints after each insert of setup."""
    return [rows(*({"_id": i} for i in range(1, n + 1))) for n in range(1, count + 1)]


def contacts_add(task: AndroidTask) -> States:
    name, phone = task.params["name"], task.params["phone"]
    return ({PHONES: rows({"display_name": name, "data1": phone.replace("-", " ")})},
            {PHONES: rows({"display_name": name, "data1": "555-000-0000"})}, None, None)


def contacts_delete(task: AndroidTask) -> States:
    others = [{"display_name": n, "data1": p} for n, p in task.params["others"]]
    target = {"display_name": task.params["name"], "data1": task.params["phone"]}
    return ({RAW_IDS: raw_ids(3), PHONES: rows(*others)}, {RAW_IDS: raw_ids(3), PHONES: rows(target, *others)},
            None, None)


def contacts_edit(task: AndroidTask) -> States:
    name = task.params["name"]
    return ({RAW_IDS: raw_ids(1), PHONES: rows({"display_name": name, "data1": task.params["new_phone"]})},
            {RAW_IDS: raw_ids(1), PHONES: rows({"display_name": name, "data1": task.params["old_phone"]})}, None, None)


def contacts_count(task: AndroidTask) -> States:
    people = task.params["people"]
    state = {RAW_IDS: raw_ids(len(people)), PHONES: rows(*({"display_name": n, "data1": p} for n, p in people))}
    return state, state, str(len(people)), str(len(people) + 1)


SENT = sh("content query --uri content://sms/sent --projection address:body")


def sms_sent(text_param: str) -> Callable[[AndroidTask], States]:
    def states(task: AndroidTask) -> States:
        number = "+1" + device.digits(task.params["number"])
        return ({SENT: rows({"address": number, "body": task.params[text_param]})},
                {SENT: rows({"address": "+15550000000", "body": task.params[text_param]})}, None, None)
    return states


def sms_code(task: AndroidTask) -> States:
    return {}, {}, task.params["code"], "123"


def folder(task: AndroidTask) -> States:
    key = sh(f"[ -d {shlex.quote('/sdcard/Documents/' + task.params['folder'])} ] && echo yes || echo no")
    return {key: "yes\n"}, {key: "no\n"}, None, None


def files_delete(task: AndroidTask) -> States:
    key = sh("ls -1 /sdcard/Download 2>/dev/null")
    keep = "\n".join(task.params["keep"]) + "\n"
    return {key: keep}, {key: keep + task.params["filename"] + "\n"}, None, None


def exists(path: str) -> str:
    return sh(f"[ -e {shlex.quote(path)} ] && echo yes || echo no")


def files_rename(task: AndroidTask) -> States:
    old, new = f"/sdcard/Download/{task.params['old']}", f"/sdcard/Download/{task.params['new']}"
    done = {exists(old): "no\n", exists(new): "yes\n", f"exec-out cat {new}": content_for(task.params["old"])}
    return done, {exists(old): "yes\n", exists(new): "no\n"}, None, None


def files_move(task: AndroidTask) -> States:
    source, target = (f"/sdcard/{folder}/{task.params['filename']}" for folder in ("Download", "Documents"))
    return ({exists(source): "no\n", exists(target): "yes\n"}, {exists(source): "no\n", exists(target): "no\n"},
            None, None)


def alarms_db(tmp: Path, alarms: list[tuple[int, int, int]]) -> bytes:
    """A Clock alarms database as the app keeps it (AOSP DeskClock's alarm_templates table)."""
    path = tmp / f"alarms-{len(list(tmp.iterdir()))}.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alarm_templates (_id INTEGER PRIMARY KEY, hour INTEGER NOT NULL, minutes INTEGER "
                   "NOT NULL, daysofweek INTEGER NOT NULL, enabled INTEGER NOT NULL, vibrate INTEGER NOT NULL, "
                   "label TEXT NOT NULL, ringtone TEXT, delete_after_use INTEGER NOT NULL DEFAULT 0)")
        db.executemany("INSERT INTO alarm_templates (hour, minutes, daysofweek, enabled, vibrate, label) "
                       "VALUES (?, ?, 0, ?, 1, '')", alarms)
    return path.read_bytes()


CLOCK_PACKAGES = {sh("pm list packages"): "package:com.android.settings\npackage:com.google.android.deskclock\n"}
CLOCK_DB = "exec-out cat /data/user_de/0/com.google.android.deskclock/databases/alarms.db"


def clock(enabled_when_done: int) -> Callable[[AndroidTask, Path], States]:
    def states(task: AndroidTask, tmp: Path) -> States:
        hour, minute = task.params["hour"], task.params["minute"]
        done = alarms_db(tmp, [(6, 0, 1), (hour, minute, enabled_when_done)])
        not_done = alarms_db(tmp, [(6, 0, 1), (hour, minute, 1 - enabled_when_done)])
        return {**CLOCK_PACKAGES, CLOCK_DB: done}, {**CLOCK_PACKAGES, CLOCK_DB: not_done}, None, None
    return states


EVENTS = sh("content query --uri content://com.android.calendar/events --projection title:dtstart:deleted")
CALENDAR_BASE = {sh("getprop persist.sys.timezone"): TZ + "\n", sh("date +%s"): f"{NOW}\n",
                 sh("content query --uri content://com.android.calendar/calendars --projection _id"): rows({"_id": 1})}


def ny_ms(day: str, hour: int) -> int:
    import datetime as dt
    from zoneinfo import ZoneInfo

    return int(dt.datetime.fromisoformat(f"{day}T{hour:02d}:00").replace(tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


def calendar_add(task: AndroidTask) -> States:
    title, hour = task.params["title"], task.params["hour"]
    right = rows({"title": title, "dtstart": ny_ms(TOMORROW_NY, hour), "deleted": 0})
    wrong_day = rows({"title": title, "dtstart": ny_ms("2025-06-15", hour), "deleted": 0})
    return {**CALENDAR_BASE, EVENTS: right}, {**CALENDAR_BASE, EVENTS: wrong_day}, None, None


def calendar_delete(task: AndroidTask) -> States:
    title = task.params["title"]
    gone = rows({"title": title, "dtstart": ny_ms(TOMORROW_NY, 9), "deleted": 1}, {"title": "Other", "dtstart": 1,
                                                                                   "deleted": 0})
    still = rows({"title": title, "dtstart": ny_ms(TOMORROW_NY, 9), "deleted": 0})
    return {**CALENDAR_BASE, EVENTS: gone}, {**CALENDAR_BASE, EVENTS: still}, None, None


STATES: dict[str, Callable[..., States]] = {
    "system-wifi": toggle("global wifi_on", on="2"), "system-bluetooth": toggle("global bluetooth_on"),
    "system-airplane-mode": toggle("global airplane_mode_on"),
    "system-auto-rotate": toggle("system accelerometer_rotation"), "system-do-not-disturb": toggle("global zen_mode", "3"),
    "system-location": toggle("secure location_mode", "3"), "system-battery-saver": toggle("global low_power"),
    "system-dark-theme": dark_theme, "system-brightness": brightness, "system-screen-timeout": screen_timeout,
    "system-font-size": font_size, "system-open-app": open_app, "system-android-version": android_version,
    "contacts-add": contacts_add, "contacts-delete": contacts_delete, "contacts-edit-phone": contacts_edit,
    "contacts-count": contacts_count, "sms-send": sms_sent("message"), "sms-reply": sms_sent("reply"),
    "sms-read-code": sms_code, "files-create-folder": folder, "files-delete": files_delete,
    "files-rename": files_rename, "files-move": files_move, "clock-alarm-create": clock(1),
    "clock-alarm-disable": clock(0), "calendar-add-event": calendar_add, "calendar-delete-event": calendar_delete,
}
# One setup command per task that proves initialize() puts the device in the task's start state.
SETUP: dict[str, Callable[[AndroidTask], str]] = {
    "system-wifi": lambda t: sh(f"svc wifi {'disable' if t.params['state'] == 'on' else 'enable'}"),
    "system-bluetooth": lambda t: sh(f"svc bluetooth {'disable' if t.params['state'] == 'on' else 'enable'}"),
    "system-airplane-mode": lambda t: sh("cmd connectivity airplane-mode "
                                         + ("disable" if t.params["state"] == "on" else "enable")),
    "system-auto-rotate": lambda t: sh(f"settings put system accelerometer_rotation {int(t.params['state'] == 'off')}"),
    "system-do-not-disturb": lambda t: sh(f"cmd notification set_dnd {'off' if t.params['state'] == 'on' else 'on'}"),
    "system-location": lambda t: sh("cmd location set-location-enabled "
                                    + ("false" if t.params["state"] == "on" else "true")),
    "system-battery-saver": lambda t: sh(f"cmd power set-mode {int(t.params['state'] == 'off')}"),
    "system-dark-theme": lambda t: sh(f"cmd uimode night {'no' if t.params['state'] == 'on' else 'yes'}"),
    "system-brightness": lambda t: sh("settings put system screen_brightness 128"),
    "system-screen-timeout": lambda t: sh("settings put system screen_off_timeout "
                                          + ("30000" if t.params["seconds"] == 60 else "60000")),
    "system-font-size": lambda t: sh("settings put system font_scale " + ("1.15" if t.params["size"] == "default"
                                                                            else "1.0")),
    "system-open-app": lambda t: sh("input keyevent KEYCODE_HOME"),
    "system-android-version": lambda t: sh("input keyevent KEYCODE_HOME"),
    "contacts-add": lambda t: sh("pm clear com.android.providers.contacts"),
    "contacts-delete": lambda t: sh("content insert --uri content://com.android.contacts/data --bind raw_contact_id:i:1 "
                                    "--bind mimetype:s:vnd.android.cursor.item/name "
                                    f"--bind data1:s:{shlex.quote(t.params['name'])}"),
    "contacts-edit-phone": lambda t: sh("content insert --uri content://com.android.contacts/data --bind "
                                        "raw_contact_id:i:1 --bind mimetype:s:vnd.android.cursor.item/phone_v2 "
                                        f"--bind data1:s:{t.params['old_phone']} --bind data2:i:2"),
    "contacts-count": lambda t: sh("content insert --uri content://com.android.contacts/raw_contacts "
                                   "--bind account_type:n: --bind account_name:n:"),
    "sms-send": lambda t: sh("content delete --uri content://sms"),
    "sms-reply": lambda t: f"emu sms send {device.digits(t.params['number'])} {t.params['incoming']}",
    "sms-read-code": lambda t: f"emu sms send {device.digits(t.params['number'])} Your verification code is "
                               f"{t.params['code']}",
    "files-create-folder": lambda t: sh(f"rm -rf {shlex.quote('/sdcard/Documents/' + t.params['folder'])}"),
    "files-delete": lambda t: sh(f"mkdir -p /sdcard/Download && printf %s {shlex.quote(content_for(t.params['filename']))} "
                                 f"> /sdcard/Download/{t.params['filename']}"),
    "files-rename": lambda t: sh(f"rm -rf /sdcard/Download/{t.params['old']} /sdcard/Download/{t.params['new']}"),
    "files-move": lambda t: sh("mkdir -p /sdcard/Documents"),
    "clock-alarm-create": lambda t: sh("pm clear com.google.android.deskclock"),
    "clock-alarm-disable": lambda t: sh("am start -a android.intent.action.SET_ALARM --ei android.intent.extra.alarm.HOUR "
                                        f"{t.params['hour']} --ei android.intent.extra.alarm.MINUTES "
                                        f"{t.params['minute']} --ez android.intent.extra.alarm.SKIP_UI true"),
    "calendar-add-event": lambda t: sh("content delete --uri content://com.android.calendar/events --where "
                                       + shlex.quote(f"title='{t.params['title']}'")),
    "calendar-delete-event": lambda t: sh("content insert --uri content://com.android.calendar/events "
                                          "--bind calendar_id:i:1 " + f"--bind title:s:{shlex.quote(t.params['title'])} "
                                          f"--bind dtstart:l:{ny_ms(TOMORROW_NY, t.params['hour'])} "
                                          f"--bind dtend:l:{ny_ms(TOMORROW_NY, t.params['hour']) + 3_600_000} "
                                          f"--bind eventTimezone:s:{TZ}"),
}


def states_for(name: str, task: AndroidTask, tmp: Path) -> States:
    builder = STATES[name]
    return builder(task, tmp) if name.startswith("clock-") else builder(task)


def test_there_are_at_least_twenty_tasks_and_every_one_has_recorded_states() -> None:
    assert len(ANDROID_TASKS) >= 20
    assert set(STATES) == set(ANDROID_TASKS) == set(SETUP)
    assert {cls.app for cls in ANDROID_TASKS.values()} >= {"settings", "contacts", "messages", "files", "clock",
                                                            "calendar"}


@pytest.mark.parametrize("name", sorted(ANDROID_TASKS))
def test_success_state_scores_one_and_failure_state_zero(name: str, tmp_path: Path) -> None:
    task = ANDROID_TASKS[name].from_seed(SEED)
    success, failure, good_answer, bad_answer = states_for(name, task, tmp_path)
    for responses, answer, expected in ((success, good_answer, 1.0), (failure, bad_answer, 0.0)):
        adb = ReplayAdbRunner(responses=dict(responses))
        task.initialize(adb)
        assert SETUP[name](task) in adb.commands, f"initialize did not run the setup command; ran {adb.commands}"
        score = task.is_successful(adb, answer)
        assert score.value == expected, f"{task.id} in the {'success' if expected else 'failure'} state: {score.reason}"
        assert score.reason
        task.tear_down(adb)
        assert all(f"am force-stop {package}" in " ".join(adb.commands) for package in task.packages)


@pytest.mark.parametrize("name", sorted(ANDROID_TASKS))
def test_params_are_drawn_from_the_seed(name: str) -> None:
    cls = ANDROID_TASKS[name]
    assert cls.from_seed(3).params == cls.from_seed(3).params
    assert cls.from_seed(3).id == f"{name}/3" and cls.from_seed(3).goal
    assert set(cls.from_seed(3).params) == set(cls.params_doc)


def test_question_tasks_score_zero_without_an_answer(tmp_path: Path) -> None:
    for name, cls in ANDROID_TASKS.items():
        if cls.answers:
            task = cls.from_seed(SEED)
            success, _, _, _ = states_for(name, task, tmp_path)
            score = task.is_successful(ReplayAdbRunner(responses=dict(success)), None)
            assert score.value == 0.0 and "answer" in score.reason


def test_a_check_that_cannot_read_the_device_raises_adb_error_not_a_score() -> None:
    task = make_task("clock-alarm-create/1")
    adb = ReplayAdbRunner(responses={**CLOCK_PACKAGES, CLOCK_DB: "cat: alarms.db: Permission denied"})
    with pytest.raises(AdbError, match="adb root"):
        task.is_successful(adb)
    with pytest.raises(AdbError, match="none of"):
        task.is_successful(ReplayAdbRunner(responses={sh("pm list packages"): "package:com.android.settings\n"}))


def test_task_specs() -> None:
    assert make_task("system-wifi/5").params == make_task("system-wifi", seed=5).params
    assert make_task({"template": "system-wifi", "params": {"state": "on"}}).goal == "Turn Wi-Fi on."
    for bad, message in (("nope", "unknown Android task"), ("system-wifi/x", "seed"),
                         ({"template": "system-wifi", "params": {}}, "missing params"), (3, "name")):
        with pytest.raises(TaskError, match=message):
            make_task(bad)


def test_content_rows_keep_commas_inside_values() -> None:
    output = "Row: 0 display_name=Smith, Jr., John, data1=555 0100\nRow: 1 display_name=Ada, data1=NULL\n"
    assert device.parse_content_rows(output, ["display_name", "data1"]) == [
        {"display_name": "Smith, Jr., John", "data1": "555 0100"}, {"display_name": "Ada", "data1": ""}]
