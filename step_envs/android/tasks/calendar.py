"""Calendar tasks: events are written and read through the calendar content provider; times are compared in
the device's own time zone and date."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from step_envs.android import device
from step_envs.android.tasks.base import AndroidTask, register, verdict
from step_envs.checkers.registry import Score
from step_envs.providers.adb import AdbError, AdbRunner, shell

CALENDAR_APPS = ("com.android.calendar", "com.google.android.calendar")
EVENTS_URI = "content://com.android.calendar/events"
CALENDARS_URI = "content://com.android.calendar/calendars"
TITLES = ("Dentist", "Team sync", "Yoga class", "Call with Sam", "Car service", "Book club", "Piano lesson",
          "Project review")


def device_now(adb: AdbRunner) -> dt.datetime:
    """The device's local time, in its own time zone (``persist.sys.timezone``, ``date +%s``)."""
    name = device.getprop(adb, "persist.sys.timezone") or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    seconds = shell(adb, "date +%s").strip()
    if not seconds.isdigit():
        raise AdbError(f"`date +%s` printed {seconds!r}")
    return dt.datetime.fromtimestamp(int(seconds), zone)


def events(adb: AdbRunner, title: str) -> list[int]:
    """Start times (ms since the epoch) of the live events with this title."""
    rows = device.content_query(adb, EVENTS_URI, ["title", "dtstart", "deleted"])
    return [int(row["dtstart"]) for row in rows
            if row.get("title", "").strip().lower() == title.lower() and row.get("deleted", "0") in ("0", "")
            and row.get("dtstart", "").isdigit()]


def delete_events(adb: AdbRunner, title: str) -> None:
    device.content_delete(adb, EVENTS_URI, where=f"title='{title}'")


class _CalendarTask(AndroidTask):
    app, packages = "calendar", CALENDAR_APPS

    def cleanup(self, adb: AdbRunner) -> None:
        delete_events(adb, self.params["title"])


@register
class AddEvent(_CalendarTask):
    """Add an event tomorrow at a whole hour: passes when a live event of that title starts then (device time)."""

    name, template = "calendar-add-event", "Add a calendar event titled \"{title}\" tomorrow at {hour}:00."
    difficulty, max_steps = "hard", 20
    params_doc = {"title": "an event title", "hour": "9-17 (24-hour clock)"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"title": rng.choice(TITLES), "hour": rng.randint(9, 17)}

    def setup(self, adb: AdbRunner) -> None:
        delete_events(adb, self.params["title"])

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        starts = events(adb, self.params["title"])
        if not starts:
            return Score(0.0, f"no event titled {self.params['title']!r}")
        now = device_now(adb)
        wanted = (now.date() + dt.timedelta(days=1), self.params["hour"])
        local = [dt.datetime.fromtimestamp(ms / 1000, now.tzinfo) for ms in starts]
        return verdict(any((start.date(), start.hour) == wanted and start.minute == 0 for start in local),
                       f"{self.params['title']!r} is tomorrow at {self.params['hour']}:00",
                       f"{self.params['title']!r} starts at {[start.isoformat() for start in local]}")


@register
class DeleteEvent(_CalendarTask):
    """Delete an event created tomorrow at the start: passes when no live event with the title is left."""

    name, template = "calendar-delete-event", "Delete the calendar event \"{title}\" from tomorrow's calendar."
    difficulty, max_steps = "medium", 15
    params_doc = {"title": "the event to delete", "hour": "when it starts tomorrow (9-17)"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"title": rng.choice(TITLES), "hour": rng.randint(9, 17)}

    def setup(self, adb: AdbRunner) -> None:
        delete_events(adb, self.params["title"])
        calendars = [int(row["_id"]) for row in device.content_query(adb, CALENDARS_URI, ["_id"])
                     if row.get("_id", "").isdigit()]
        if not calendars:
            raise AdbError("the device has no calendar to add an event to; open the Calendar app once (it "
                           "creates a local calendar) and save the emulator snapshot")
        now = device_now(adb)
        start = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(self.params["hour"]), now.tzinfo)
        start_ms = int(start.timestamp() * 1000)
        device.content_insert(adb, EVENTS_URI, {
            "calendar_id": min(calendars), "title": self.params["title"], "dtstart": start_ms,
            "dtend": start_ms + 3_600_000, "eventTimezone": str(now.tzinfo)})

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        left = events(adb, self.params["title"])
        return verdict(not left, f"{self.params['title']!r} deleted", f"{self.params['title']!r} is still there")
