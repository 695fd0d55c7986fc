"""Settings tasks: toggles and values read back with ``settings get`` / ``cmd``, like AndroidWorld's system tasks.

Every toggle starts in the opposite state (set over adb in ``setup``), so doing nothing never passes.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from typing import Any, ClassVar

from step_envs.android import device
from step_envs.android.tasks.base import AndroidTask, answer_matches, register, verdict
from step_envs.checkers.registry import Score
from step_envs.providers.adb import AdbRunner, shell

SETTINGS = ("com.android.settings",)
STATES = ("on", "off")


class _Toggle(AndroidTask):
    """A switch: ``setup`` puts it in the state opposite to the goal, ``is_successful`` reads it back."""

    app = "settings"
    packages = SETTINGS
    params_doc = {"state": "on | off"}
    what: ClassVar[str]

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"state": rng.choice(STATES)}

    @property
    def want_on(self) -> bool:
        return self.params["state"] == "on"

    def setup(self, adb: AdbRunner) -> None:
        self.set_state(adb, not self.want_on)

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        is_on, raw = self.read_state(adb)
        return verdict(is_on == self.want_on, f"{self.what} is {self.params['state']}",
                       f"{self.what} is still {'on' if is_on else 'off'} ({raw!r})")

    @abstractmethod
    def set_state(self, adb: AdbRunner, on: bool) -> None:
        """Switch it over adb."""

    @abstractmethod
    def read_state(self, adb: AdbRunner) -> tuple[bool, str]:
        """(is it on, the raw value read) from the device."""


class _SettingToggle(_Toggle):
    """A toggle stored in one settings key, switched by a shell command (the service must see the change)."""

    namespace: ClassVar[str]
    key: ClassVar[str]
    on_command: ClassVar[str]
    off_command: ClassVar[str]
    off_values: ClassVar[tuple[str, ...]] = ("0",)

    def set_state(self, adb: AdbRunner, on: bool) -> None:
        shell(adb, self.on_command if on else self.off_command)

    def read_state(self, adb: AdbRunner) -> tuple[bool, str]:
        raw = device.settings_get(adb, self.namespace, self.key)
        return raw not in (*self.off_values, "null"), raw


@register
class WifiToggle(_SettingToggle):
    """Turn Wi-Fi on or off: starts the other way (``svc wifi``), read back from ``global wifi_on``."""

    name, template, what = "system-wifi", "Turn Wi-Fi {state}.", "Wi-Fi"
    namespace, key = "global", "wifi_on"  # 1 on, 2 on while in airplane mode, 0 off
    on_command, off_command = "svc wifi enable", "svc wifi disable"


@register
class BluetoothToggle(_SettingToggle):
    """Turn Bluetooth on or off: starts the other way, read back from ``global bluetooth_on``."""

    name, template, what = "system-bluetooth", "Turn Bluetooth {state}.", "Bluetooth"
    namespace, key = "global", "bluetooth_on"
    on_command, off_command = "svc bluetooth enable", "svc bluetooth disable"


@register
class AirplaneModeToggle(_SettingToggle):
    """Turn airplane mode on or off: starts the other way, read back from ``global airplane_mode_on``."""

    name, template, what = "system-airplane-mode", "Turn airplane mode {state}.", "airplane mode"
    namespace, key = "global", "airplane_mode_on"
    on_command, off_command = "cmd connectivity airplane-mode enable", "cmd connectivity airplane-mode disable"


@register
class AutoRotateToggle(_SettingToggle):
    """Turn auto-rotate on or off: starts the other way, read back from ``system accelerometer_rotation``."""

    name, template, what = "system-auto-rotate", "Turn auto-rotate screen {state}.", "auto-rotate"
    namespace, key = "system", "accelerometer_rotation"
    on_command = "settings put system accelerometer_rotation 1"
    off_command = "settings put system accelerometer_rotation 0"


@register
class DoNotDisturbToggle(_SettingToggle):
    """Turn Do Not Disturb on or off: starts the other way, read back from ``global zen_mode`` (0 is off)."""

    name, template, what = "system-do-not-disturb", "Turn Do Not Disturb {state}.", "Do Not Disturb"
    namespace, key = "global", "zen_mode"  # 0 off; 1, 2, 3 are the on modes
    on_command, off_command = "cmd notification set_dnd on", "cmd notification set_dnd off"


@register
class LocationToggle(_SettingToggle):
    """Turn location on or off: starts the other way, read back from ``secure location_mode``."""

    name, template, what = "system-location", "Turn location {state}.", "location"
    namespace, key = "secure", "location_mode"  # 0 off, 3 on (high accuracy)
    on_command = "cmd location set-location-enabled true"
    off_command = "cmd location set-location-enabled false"


@register
class BatterySaverToggle(_SettingToggle):
    """Turn battery saver on or off: starts the other way, read back from ``global low_power``."""

    name, template, what = "system-battery-saver", "Turn battery saver {state}.", "battery saver"
    namespace, key = "global", "low_power"
    on_command, off_command = "cmd power set-mode 1", "cmd power set-mode 0"


@register
class DarkThemeToggle(_Toggle):
    """Turn the dark theme on or off: starts the other way, read back from ``cmd uimode night``."""

    name, template, what = "system-dark-theme", "Turn dark theme {state}.", "dark theme"

    def set_state(self, adb: AdbRunner, on: bool) -> None:
        shell(adb, f"cmd uimode night {'yes' if on else 'no'}")

    def read_state(self, adb: AdbRunner) -> tuple[bool, str]:
        raw = shell(adb, "cmd uimode night").strip()  # "Night mode: yes"
        return raw.rsplit(":", 1)[-1].strip() == "yes", raw


@register
class Brightness(AndroidTask):
    """Set the brightness to its maximum or minimum: starts at 128 in manual mode; passes at 255 or at 1."""

    name, template, app, packages = "system-brightness", "Turn the screen brightness to the {level} value.", \
        "settings", SETTINGS
    params_doc = {"level": "max | min"}
    levels = {"max": 255, "min": 1}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"level": rng.choice(sorted(cls.levels))}

    def setup(self, adb: AdbRunner) -> None:
        device.settings_put(adb, "system", "screen_brightness_mode", 0)  # manual, or the sensor moves it
        device.settings_put(adb, "system", "screen_brightness", 128)

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        raw = device.settings_get(adb, "system", "screen_brightness")
        if not raw.isdigit():
            return Score(0.0, f"screen_brightness reads {raw!r}")
        value = int(raw)
        ok = value >= 255 if self.params["level"] == "max" else value <= 1
        return verdict(ok, f"brightness is {value}", f"brightness is {value}, not the {self.params['level']}")


@register
class ScreenTimeout(AndroidTask):
    """Set the screen timeout to one of Settings' choices: starts at another; ``system screen_off_timeout``."""

    name, template, app, packages = "system-screen-timeout", \
        "Set the screen timeout to {label}.", "settings", SETTINGS
    difficulty, max_steps = "medium", 15
    params_doc = {"seconds": "15, 30, 60, 120, 300, 600 or 1800", "label": "the same in words"}
    choices = {15: "15 seconds", 30: "30 seconds", 60: "1 minute", 120: "2 minutes", 300: "5 minutes",
               600: "10 minutes", 1800: "30 minutes"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        seconds = rng.choice(sorted(cls.choices))
        return {"seconds": seconds, "label": cls.choices[seconds]}

    def setup(self, adb: AdbRunner) -> None:
        start = 60 if self.params["seconds"] != 60 else 30
        device.settings_put(adb, "system", "screen_off_timeout", start * 1000)

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        raw = device.settings_get(adb, "system", "screen_off_timeout")
        want = self.params["seconds"] * 1000
        return verdict(raw == str(want), f"screen_off_timeout is {want}", f"screen_off_timeout is {raw}, want {want}")


@register
class FontSize(AndroidTask):
    """Set the font size (small to largest): starts at another, read back from ``system font_scale``."""

    name, template, app, packages = "system-font-size", "Set the font size to {size}.", "settings", SETTINGS
    difficulty, max_steps = "medium", 15
    params_doc = {"size": "small | default | large | largest"}
    scales = {"small": 0.85, "default": 1.0, "large": 1.15, "largest": 1.3}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"size": rng.choice(sorted(cls.scales))}

    def setup(self, adb: AdbRunner) -> None:
        start = 1.0 if self.params["size"] != "default" else 1.15
        device.settings_put(adb, "system", "font_scale", start)

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        raw = device.settings_get(adb, "system", "font_scale")
        want = self.scales[self.params["size"]]
        try:
            ok = abs(float(raw) - want) < 0.01
        except ValueError:
            return Score(0.0, f"font_scale reads {raw!r}")
        return verdict(ok, f"font_scale is {want}", f"font_scale is {raw}, want {want}")


APP_PACKAGES: dict[str, tuple[str, ...]] = {
    "Settings": ("com.android.settings",),
    "Contacts": ("com.android.contacts", "com.google.android.contacts"),
    "Clock": ("com.android.deskclock", "com.google.android.deskclock"),
    "Files": ("com.android.documentsui", "com.google.android.documentsui"),
    "Messages": ("com.android.messaging", "com.google.android.apps.messaging"),
    "Calendar": ("com.android.calendar", "com.google.android.calendar"),
}


@register
class OpenApp(AndroidTask):
    """Open an app: passes when one of its packages (AOSP or Google build) owns the foreground activity."""

    name, template, app = "system-open-app", "Open the {app_name} app.", "launcher"
    params_doc = {"app_name": ", ".join(APP_PACKAGES)}

    @property
    def packages(self) -> tuple[str, ...]:  # type: ignore[override]
        return APP_PACKAGES[self.params["app_name"]]

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"app_name": rng.choice(sorted(APP_PACKAGES))}

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        current = device.current_activity(adb)
        if current is None:
            return Score(0.0, "no activity is in the foreground")
        return verdict(current[0] in self.packages, f"{current[0]} is in the foreground",
                       f"{current[0]}/{current[1]} is in the foreground, not {self.params['app_name']}")


@register
class AndroidVersion(AndroidTask):
    """A question: the Android version (``getprop ro.build.version.release``), given as an ``answer``."""

    name, template, app = "system-android-version", \
        "Which Android version is this phone running? Answer with the version number only.", "settings"
    packages, answers = SETTINGS, True

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return {}

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        return answer_matches(answer, device.getprop(adb, "ro.build.version.release"))
