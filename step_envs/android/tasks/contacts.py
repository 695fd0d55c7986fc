"""Contacts tasks: contacts are written and read through the contacts content provider over adb."""

from __future__ import annotations

import random
from typing import Any

from step_envs.android import device
from step_envs.android.tasks.base import AndroidTask, answer_matches, register, verdict
from step_envs.checkers.registry import Score
from step_envs.providers.adb import AdbError, AdbRunner, shell

CONTACT_APPS = ("com.android.contacts", "com.google.android.contacts")
PROVIDER = "com.android.providers.contacts"
RAW_CONTACTS_URI = "content://com.android.contacts/raw_contacts"
DATA_URI = "content://com.android.contacts/data"
PHONES_URI = "content://com.android.contacts/data/phones"
FIRST_NAMES = ("Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
               "Radia", "Donald", "Hedy", "Tim", "Katherine", "John")
LAST_NAMES = ("Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen",
              "Dijkstra", "Perlman", "Knuth", "Lamarr", "Berners", "Johnson", "McCarthy")


def random_people(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """``count`` distinct (full name, phone number) pairs."""
    names = rng.sample([f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES], count)
    return [(name, f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}") for name in names]


def clear_contacts(adb: AdbRunner) -> None:
    """Wipe the contacts database (``pm clear`` of the contacts provider)."""
    shell(adb, f"pm clear {PROVIDER}")


def add_contact(adb: AdbRunner, name: str, phone: str) -> None:
    """A raw contact, then its name and mobile number as data rows (what the Contacts app writes)."""
    device.content_insert(adb, RAW_CONTACTS_URI, {"account_type": None, "account_name": None})
    rows = device.content_query(adb, RAW_CONTACTS_URI, ["_id"], where="deleted=0")
    ids = [int(row["_id"]) for row in rows if row.get("_id", "").isdigit()]
    if not ids:
        raise AdbError("the contacts provider did not create a raw contact")
    raw_id = max(ids)
    device.content_insert(adb, DATA_URI, {"raw_contact_id": raw_id, "mimetype": "vnd.android.cursor.item/name",
                                          "data1": name})
    device.content_insert(adb, DATA_URI, {"raw_contact_id": raw_id, "mimetype": "vnd.android.cursor.item/phone_v2",
                                          "data1": phone, "data2": 2})


def phone_book(adb: AdbRunner) -> list[tuple[str, str]]:
    """Every (display name, number) on the device."""
    rows = device.content_query(adb, PHONES_URI, ["display_name", "data1"])
    return [(row.get("display_name", ""), row.get("data1", "")) for row in rows]


def numbers_of(book: list[tuple[str, str]], name: str) -> list[str]:
    return [device.digits(phone) for shown, phone in book if shown.strip().lower() == name.lower()]


class _ContactsTask(AndroidTask):
    app, packages = "contacts", CONTACT_APPS

    def cleanup(self, adb: AdbRunner) -> None:
        clear_contacts(adb)


@register
class AddContact(_ContactsTask):
    """Create a contact with a name and number: none at the start; passes when the name has the number."""

    name, template = "contacts-add", "Create a new contact named {name} with the phone number {phone}."
    difficulty, max_steps = "medium", 15
    params_doc = {"name": "a first and last name", "phone": "555-NNN-NNNN"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        (name, phone), = random_people(rng, 1)
        return {"name": name, "phone": phone}

    def setup(self, adb: AdbRunner) -> None:
        clear_contacts(adb)

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        numbers = numbers_of(phone_book(adb), self.params["name"])
        if not numbers:
            return Score(0.0, f"no contact named {self.params['name']!r}")
        return verdict(device.digits(self.params["phone"]) in numbers, f"{self.params['name']} has the number",
                       f"{self.params['name']} has {numbers}, not {self.params['phone']}")


@register
class DeleteContact(_ContactsTask):
    """Delete one of three contacts: passes when it is gone and the other two are kept."""

    name, template = "contacts-delete", "Delete the contact {name}."
    difficulty, max_steps = "medium", 15
    params_doc = {"name": "the contact to delete", "phone": "its number", "others": "two [name, phone] to keep"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        (name, phone), *others = random_people(rng, 3)
        return {"name": name, "phone": phone, "others": [list(person) for person in others]}

    def setup(self, adb: AdbRunner) -> None:
        clear_contacts(adb)
        for name, phone in [(self.params["name"], self.params["phone"]), *self.params["others"]]:
            add_contact(adb, name, phone)

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        book = phone_book(adb)
        if numbers_of(book, self.params["name"]):
            return Score(0.0, f"{self.params['name']} is still in the contacts")
        lost = [name for name, _ in self.params["others"] if not numbers_of(book, name)]
        return verdict(not lost, f"{self.params['name']} deleted, the others kept",
                       f"{self.params['name']} deleted, but so were {lost}")


@register
class EditContactPhone(_ContactsTask):
    """Change a contact's number: passes when the contact has the new number and no longer the old one."""

    name, template = "contacts-edit-phone", "Change the phone number of {name} to {new_phone}."
    difficulty, max_steps = "hard", 20
    params_doc = {"name": "an existing contact", "old_phone": "its number at the start",
                  "new_phone": "the number to set"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        (name, old_phone), (_, new_phone) = random_people(rng, 2)
        return {"name": name, "old_phone": old_phone, "new_phone": new_phone}

    def setup(self, adb: AdbRunner) -> None:
        clear_contacts(adb)
        add_contact(adb, self.params["name"], self.params["old_phone"])

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        numbers = numbers_of(phone_book(adb), self.params["name"])
        new, old = device.digits(self.params["new_phone"]), device.digits(self.params["old_phone"])
        return verdict(new in numbers and old not in numbers, f"{self.params['name']} now has the new number",
                       f"{self.params['name']} has {numbers or 'no number'}; want only {self.params['new_phone']}")


@register
class CountContacts(_ContactsTask):
    """A question: how many contacts the phone holds (2 to 5, made at the start), as an ``answer``."""

    name, template = "contacts-count", "How many contacts are saved on this phone? Answer with a number."
    difficulty, answers = "medium", True
    params_doc = {"people": "2 to 5 [name, phone] created at the start"}

    @classmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"people": [list(person) for person in random_people(rng, rng.randint(2, 5))]}

    def setup(self, adb: AdbRunner) -> None:
        clear_contacts(adb)
        for name, phone in self.params["people"]:
            add_contact(adb, name, phone)

    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        count = len({name for name, _ in phone_book(adb)})
        return answer_matches(answer, str(count))
