"""SMS tasks: messages are read from the telephony provider (``content://sms``); incoming ones arrive through
the emulator console (``adb emu sms send``), as in AndroidWorld."""

from __future__ import annotations

import random
from typing import Any

from step_envs.android import device
from step_envs.android.tasks.base import AndroidTask, answer_matches, register, verdict
from step_envs.android.tasks.contacts import random_people
from step_envs.checkers.registry import Score
from step_envs.providers.adb import AdbRunner

MESSAGING_APPS = ("com.android.messaging", "com.google.android.apps.messaging")
SMS_URI = "content://sms"
SENT_URI = "content://sms/sent"
MESSAGES = ("Running 10 minutes late, start without me.", "Can you pick up milk on the way home?",
            "The meeting moved to 3pm.", "Happy birthday! Dinner is on me tonight.", "Call me when you land.",
            "Do not forget the keys.", "See you at the station at 8.")


def clear_sms(adb: AdbRunner) -> None:
    device.content_delete(adb, SMS_URI)


def receive_sms(adb: AdbRunner, number: str, text: str) -> None:
    """An incoming SMS from ``number`` (emulator console: ``sms send``; digits only, as the console wants)."""
    adb.run(["emu", "sms", "send", device.digits(number), text])


def sent_to(adb: AdbRunner, number: str) -> list[str]:
    """Bodies of the messages sent to ``number``."""
    rows = device.content_query(adb, SENT_URI, ["address", "body"])
    return [row.get("body", "") for row in rows if device.digits(row.get("address", "")) == device.digits(number)]


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()).lower() == " ".join(b.split()).lower()


class _SmsTask(AndroidTask):
    app, packages = "messages", MESSAGING_APPS

    def cleanup(self, adb: AdbRunner) -> None:
        clear_sms(adb)

    def _sent_check(self, adb: AdbRunner, number: str, text: str) -> Score:
        bodies = sent_to(adb, number)
        if not bodies:
            return Score(0.0, f"no message was sent to {number}")
        return verdict(any(_same_text(body, text) for body in bodies), f"sent {text!r} to {number}",
                       f"sent {bodies} to {number}, not {text!r}")


@register
class SendSms(_SmsTask):
    """Send a text to a number: no texts at the start; passes when ``content://sms/sent`` holds it."""

    name, template = "sms-send", 'Send a text message to {number} saying "{message}"'
    difficulty, max_steps = "medium", 15
    params_doc = {"number": "555-NNN-NNNN", "message": "a short sentence"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        (_, number), = random_people(rng, 1)
        return {"number": number, "message": rng.choice(MESSAGES)}

    def setup(self, adb: AdbRunner) -> None:
        clear_sms(adb)

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        return self._sent_check(adb, self.params["number"], self.params["message"])


@register
class ReplySms(_SmsTask):
    """Reply to a text received at the start (``adb emu sms send``): passes when the sender got it."""

    name, template = "sms-reply", 'Reply "{reply}" to the latest text message you received.'
    difficulty, max_steps = "hard", 20
    params_doc = {"number": "the sender", "incoming": "the message received at the start", "reply": "what to send"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        (_, number), = random_people(rng, 1)
        incoming, reply = rng.sample(MESSAGES, 2)
        return {"number": number, "incoming": incoming, "reply": reply}

    def setup(self, adb: AdbRunner) -> None:
        clear_sms(adb)
        receive_sms(adb, self.params["number"], self.params["incoming"])

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        return self._sent_check(adb, self.params["number"], self.params["reply"])


@register
class ReadSmsCode(_SmsTask):
    """A question: the six-digit code in a text received at the start, given as an ``answer``."""

    name, template = "sms-read-code", "What is the verification code in the text message you just received? " \
        "Answer with the code only."
    difficulty, answers = "medium", True
    params_doc = {"number": "the sender", "code": "six digits"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        (_, number), = random_people(rng, 1)
        return {"number": number, "code": f"{rng.randint(0, 999999):06d}"}

    def setup(self, adb: AdbRunner) -> None:
        clear_sms(adb)
        receive_sms(adb, self.params["number"], f"Your verification code is {self.params['code']}")

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        return answer_matches(answer, self.params["code"])
