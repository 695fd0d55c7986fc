"""Getters of the expected side, from the task's own data: ``rule`` (the rules as written, ``~`` expanded to the
env user's home) and OSWorld's ``rule_relativeTime`` (expected values that name dates relative to today,
"tomorrow", "next Monday", "10th next month", written out for the day the check runs).

A ``rule_relativeTime`` config is ``{"rules": {"relativeTime": {"from": NAME[, "to": NAME]}, "expected": {...}[,
"timezone": TZ]}}``. Today is the date in ``timezone`` (an IANA name) when given, else the env's own local date. The
day each name means (weekday 0 is Monday):

- ``tomorrow``: today + 1; ``this month``: today; ``5th/10th/11th next month``: that day of next month;
- ``next Monday`` (also ``next Monday split``): the Monday after today's week (today + 7 - weekday);
- ``this Saturday`` / ``this Sunday``: today + 5 - weekday / today + 6 - weekday;
- ``next Friday`` / ``next Saturday`` / ``next Sunday``: the coming weekend's day, next week's when today is that day
  or later (Sunday's Saturday is 6 days on); as ``to`` after ``next Monday``, ``next Friday`` is that week's Friday,
  and after ``next Friday``/``next Saturday``, ``next Sunday`` is that weekend's Sunday;
- ``next week Friday/Saturday/Sunday``: that day of next week (as ``to``, ``next week Sunday`` is the Sunday of the
  ``from`` day's week);
- ``first monday four/eight months later``: the first Monday of the month 4 / 8 months on.

Then in ``expected``, ``{DoW}`` (Mon), ``{Month}`` (Jan), ``{MonthFull}`` (January), ``{month}`` (january),
``{MonthD}`` (1), ``{Month0D}`` (01), ``{DayD}`` (5), ``{Day0D}`` (05) and ``{Year}`` become the day's: the value
``time`` gets the ``from`` day (a list: each string); with a ``to``, ``from`` and ``to`` get theirs, and ``next Monday
split`` / ``next Friday split`` fill ``puDay``/``puMonth``/``puYear`` / ``doDay``/``doMonth``/``doYear`` instead.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from step_envs.checkers.getters.access import env_python
from step_envs.checkers.registry import CheckContext, getter, short


def _home_paths(value: Any, home: Callable[[], str]) -> Any:
    """``value`` with every string ``~`` or ``~/...`` in it (nested in lists and dicts too) under ``home()``."""
    if isinstance(value, str) and (value == "~" or value.startswith("~/")):
        return home() + value[1:]
    if isinstance(value, list):
        return [_home_paths(item, home) for item in value]
    if isinstance(value, dict):
        return {key: _home_paths(item, home) for key, item in value.items()}
    return value


@getter("rule")
def rule(ctx: CheckContext, config: dict[str, Any]) -> Any:
    """``config["rules"]``: the expected side of most metrics. Paths in it that start with ``~`` (OSWorld's
    ``/home/user`` moved to the env's home when the task loaded) are expanded to the env user's home, so they
    compare with the absolute paths apps save."""
    found: list[str] = []

    def home() -> str:
        if not found:
            expanded = env_python(ctx, "import os; print(os.path.expanduser('~'))")
            if not expanded or not expanded.strip():
                raise ValueError("the env's home folder could not be read to expand '~' in the rules")
            found.append(expanded.strip())
        return found[0]

    return _home_paths(config["rules"], home)


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
_NEXT_MONTH_DAYS = {"5th next month": 5, "10th next month": 10, "11th next month": 11}
_MONTHS_LATER = {"first monday four months later": 4, "first monday eight months later": 8}
_WEEKEND = {"next Friday": 4, "next Saturday": 5, "next Sunday": 6}
_NEXT_WEEK = {"next week Friday": 4, "next week Saturday": 5, "next week Sunday": 6}
_THIS_WEEK = {"this Saturday": 5, "this Sunday": 6}
_SPLIT = {"next Monday split": ("puDay", "puMonth", "puYear"), "next Friday split": ("doDay", "doMonth", "doYear")}
NAMES = ("tomorrow", "this month", "next Monday", *_SPLIT, *_NEXT_MONTH_DAYS, *_MONTHS_LATER, *_WEEKEND,
         *_NEXT_WEEK, *_THIS_WEEK)


def _month_later(today: dt.date, months: int, day: int) -> dt.date:
    index = today.month - 1 + months
    return dt.date(today.year + index // 12, index % 12 + 1, day)


def day_of(name: str, today: dt.date, after: tuple[str, dt.date] | None = None) -> dt.date:
    """The day ``name`` means on ``today`` (the module docstring); ``after`` is the ``from`` name and day when
    ``name`` is a ``to``. ValueError for a name OSWorld does not define, listing those it does."""
    weekday = today.weekday()
    start_name, start = after if after is not None else ("", today)
    if name == "tomorrow":
        return today + dt.timedelta(days=1)
    if name == "this month":
        return today
    if name in ("next Monday", "next Monday split"):
        return today + dt.timedelta(days=7 - weekday)
    if name in _NEXT_MONTH_DAYS:
        return _month_later(today, 1, _NEXT_MONTH_DAYS[name])
    if name in _MONTHS_LATER:
        first = _month_later(today, _MONTHS_LATER[name], 1)
        return first + dt.timedelta(days=(7 - first.weekday()) % 7)
    if name in _THIS_WEEK:
        return today + dt.timedelta(days=_THIS_WEEK[name] - weekday)
    if name in ("next Friday", "next Friday split") and start_name in ("next Monday", "next Monday split"):
        return start + dt.timedelta(days=4)
    if name == "next Sunday" and start_name in ("next Friday", "next Saturday"):
        return start + dt.timedelta(days=6 - start.weekday())
    if name in ("next Friday", "next Friday split", "next Saturday", "next Sunday"):
        target = _WEEKEND[name.removesuffix(" split")]
        return today + dt.timedelta(days=target - weekday if weekday < target else 7 - weekday + target)
    if name == "next week Sunday" and start_name in ("next week Friday", "next week Saturday"):
        return start + dt.timedelta(days=6 - start.weekday())
    if name in _NEXT_WEEK:
        return today + dt.timedelta(days=7 - weekday + _NEXT_WEEK[name])
    raise ValueError(f"relative time {name!r} is not defined; known: {', '.join(NAMES)}")


def format_day(template: str, day: dt.date) -> str:
    """``template`` with the first of each placeholder (module docstring) replaced by ``day``'s value."""
    for key, value in (("{DoW}", WEEKDAYS[day.weekday()]), ("{Month}", MONTHS[day.month - 1][:3]),
                       ("{DayD}", str(day.day)), ("{Year}", str(day.year)), ("{Month0D}", f"{day.month:02d}"),
                       ("{month}", MONTHS[day.month - 1].lower()), ("{MonthFull}", MONTHS[day.month - 1]),
                       ("{Day0D}", f"{day.day:02d}"), ("{MonthD}", str(day.month))):
        template = template.replace(key, value, 1)
    return template


def env_today(ctx: CheckContext) -> dt.date | None:
    """The env's local date; None when it cannot be read."""
    output = env_python(ctx, "import datetime; print(datetime.date.today().isoformat())")
    try:
        return dt.date.fromisoformat(output.strip()) if output else None
    except ValueError:
        return None


def written_out(rules: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """A copy of ``rules`` whose ``expected`` has the relative dates of ``rules["relativeTime"]`` written out for
    ``today`` (module docstring)."""
    relative = rules.get("relativeTime")
    if not isinstance(relative, dict) or not isinstance(relative.get("from"), str):
        raise ValueError(f"rules need 'relativeTime': {{'from': name[, 'to': name]}}, got {short(relative)}")
    if not isinstance(rules.get("expected"), dict):
        raise ValueError(f"rules need an 'expected' object, got {short(rules.get('expected'))}")
    rules = copy.deepcopy(rules)
    expected = rules["expected"]
    start_name = relative["from"]
    start = day_of(start_name, today)

    def fill(key: str, day: dt.date) -> None:
        if key not in expected:
            raise ValueError(f"expected has no {key!r} to write the date into")
        value = expected[key]
        expected[key] = [format_day(v, day) for v in value] if isinstance(value, list) else format_day(value, day)

    if "to" not in relative:
        fill("time", start)
        return rules
    for key in _SPLIT.get(start_name, ("from",)):
        fill(key, start)
    end_name = relative["to"]
    end = day_of(end_name, today, after=(start_name, start))
    for key in _SPLIT.get(end_name, ("to",)):
        fill(key, end)
    return rules


@getter("rule_relativeTime")
def rule_relative_time(ctx: CheckContext, config: dict[str, Any]) -> dict[str, Any]:
    """``config["rules"]`` with its relative dates written out for today (module docstring)."""
    rules = config.get("rules")
    if not isinstance(rules, dict):
        raise ValueError(f"getter config 'rules' must be an object, got {short(rules)}")
    zone = rules.get("timezone")
    if zone is not None:
        try:
            today = dt.datetime.now(ZoneInfo(zone)).date()
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"rules timezone {zone!r} is not an IANA time zone name (e.g. 'Europe/Zurich')") \
                from exc
    else:
        today = env_today(ctx) or dt.date.today()
    return written_out(rules, today)
