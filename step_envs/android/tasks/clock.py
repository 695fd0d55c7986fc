"""Clock tasks: alarms are read from the Clock app's sqlite database, pulled from the device and queried here
(needs ``adb root``, which emulator ``google_apis`` images allow)."""

from __future__ import annotations

import random
from typing import Any

from step_envs.android import device
from step_envs.android.tasks.base import AndroidTask, register, verdict
from step_envs.checkers.registry import Score
from step_envs.providers.adb import AdbRunner, shell

CLOCK_APPS = ("com.android.deskclock", "com.google.android.deskclock")
ALARMS_SQL = "SELECT hour, minutes, enabled FROM alarm_templates"


def alarms_db(package: str) -> str:
    return f"/data/user_de/0/{package}/databases/alarms.db"


def alarms(adb: AdbRunner) -> list[tuple[int, int, bool]]:
    """Every alarm as (hour, minutes, enabled)."""
    package = device.installed_package(adb, CLOCK_APPS)
    rows = device.sqlite_query(adb, alarms_db(package), ALARMS_SQL)
    return [(int(row["hour"]), int(row["minutes"]), bool(row["enabled"])) for row in rows]


def clear_alarms(adb: AdbRunner) -> None:
    shell(adb, f"pm clear {device.installed_package(adb, CLOCK_APPS)}")


def _clock_time(hour: int, minute: int) -> str:
    suffix = "AM" if hour < 12 else "PM"
    return f"{(hour % 12) or 12}:{minute:02d} {suffix}"


def _random_time(rng: random.Random) -> dict[str, Any]:
    hour, minute = rng.randint(5, 22), rng.choice((0, 15, 30, 45))
    return {"hour": hour, "minute": minute, "time": _clock_time(hour, minute)}


class _ClockTask(AndroidTask):
    app, packages = "clock", CLOCK_APPS
    params_doc = {"hour": "5-22", "minute": "0, 15, 30 or 45", "time": "the same as h:mm AM/PM"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return _random_time(rng)

    def cleanup(self, adb: AdbRunner) -> None:
        clear_alarms(adb)

    def _at_time(self, adb: AdbRunner) -> list[bool]:
        """``enabled`` of each alarm at the task's time."""
        return [on for hour, minute, on in alarms(adb) if (hour, minute) == (self.params["hour"], self.params["minute"])]


@register
class CreateAlarm(_ClockTask):
    """Set an alarm: there are none at the start; passes when an enabled one is at the time (``alarms.db``)."""

    name, template = "clock-alarm-create", "Set an alarm for {time}."
    difficulty, max_steps = "medium", 15

    def setup(self, adb: AdbRunner) -> None:
        clear_alarms(adb)

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        found = self._at_time(adb)
        return verdict(any(found), f"an alarm at {self.params['time']} is on",
                       f"the alarm at {self.params['time']} is off" if found else
                       f"no alarm at {self.params['time']}")


@register
class DisableAlarm(_ClockTask):
    """Turn an alarm off, not deleting it: it is on at the start; passes when it exists and is off."""

    name, template = "clock-alarm-disable", "Turn off the {time} alarm, without deleting it."
    difficulty, max_steps = "hard", 15

    def setup(self, adb: AdbRunner) -> None:
        clear_alarms(adb)
        shell(adb, "am start -a android.intent.action.SET_ALARM"
                   f" --ei android.intent.extra.alarm.HOUR {self.params['hour']}"
                   f" --ei android.intent.extra.alarm.MINUTES {self.params['minute']}"
                   " --ez android.intent.extra.alarm.SKIP_UI true")

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        found = self._at_time(adb)
        if not found:
            return Score(0.0, f"the {self.params['time']} alarm was deleted")
        return verdict(not any(found), f"the {self.params['time']} alarm is off",
                       f"the {self.params['time']} alarm is still on")
