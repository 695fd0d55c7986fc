"""Every public class says what it is, and every environment carries its manual.

- A public class (its name does not start with ``_``) defined at the top of a first-party module of ``step_envs``
  or ``step_train`` has a docstring of its own. Read from the source with `ast`: a dataclass's generated
  signature does not count as one.
- The class behind every Gymnasium id ``import step_envs`` registers, env and vector env alike, documents itself
  the way Gymnasium's classic-control envs do: its docstring has the sections Description, Action Space,
  Observation Space, Rewards, Episode End, Arguments and Version History, in that order, each a title line of its
  own (bare, or a markdown heading ``## Rewards`` as Gymnasium writes it) followed by its text.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import gymnasium as gym

import step_envs

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("step_envs", "step_train")
SECTIONS = ("Description", "Action Space", "Observation Space", "Rewards", "Episode End", "Arguments",
            "Version History")


def public_classes() -> list[tuple[str, ast.ClassDef]]:
    """(``path:line``, class node) of every public top-level class in a first-party module."""
    found = []
    for top in FIRST_PARTY:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "data" in path.relative_to(ROOT).parts:  # scripts shipped as task data, not modules of the package
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            found += [(f"{path.relative_to(ROOT)}:{node.lineno}", node) for node in tree.body
                      if isinstance(node, ast.ClassDef) and not node.name.startswith("_")]
    return found


def registered_env_classes() -> dict[str, type]:
    """``module:Class`` -> class, for the entry point and vector entry point of every registered id."""
    entry_points = set()
    for env_id in step_envs.registered_ids():
        spec = gym.spec(env_id)
        entry_points |= {point for point in (spec.entry_point, spec.vector_entry_point) if isinstance(point, str)}
    classes = {}
    for point in sorted(entry_points):
        module, _, name = point.partition(":")
        classes[point] = getattr(importlib.import_module(module), name)
    return classes


TITLE = re.compile(rf"^(?:## )?({'|'.join(SECTIONS)})[ \t]*$", re.MULTILINE)
"""A section title: a line of its own, bare or as a markdown heading (``## Rewards``, Gymnasium's way)."""


def missing_sections(doc: str) -> list[str]:
    """The sections `doc` lacks (or has with no text under the title), and a note when they are out of order."""
    titles = list(TITLE.finditer(doc))
    ends = [title.start() for title in titles[1:]] + [len(doc)] if titles else []
    present = [title.group(1) for title, end in zip(titles, ends, strict=True) if doc[title.end():end].strip()]
    missing = [section for section in SECTIONS if section not in present]
    if present != sorted(present, key=SECTIONS.index):
        missing.append(f"(out of order: the order is {', '.join(SECTIONS)})")
    return missing


def test_every_public_class_has_a_docstring() -> None:
    classes = public_classes()
    assert len(classes) > 150, "the scan found too few classes: did the package layout change?"
    undocumented = [f"{where} {node.name}" for where, node in classes if not (ast.get_docstring(node) or "").strip()]
    assert not undocumented, ("public classes without a docstring (say what the class is, in a sentence or more):\n  "
                              + "\n  ".join(undocumented))


def test_every_registered_env_and_vector_env_documents_itself_in_gymnasium_sections() -> None:
    classes = registered_env_classes()
    assert {"step_envs.desktop.env:DesktopEnv", "step_envs.android.env:AndroidEnv"} <= set(classes)
    assert any(issubclass(cls, gym.vector.VectorEnv) for cls in classes.values()), "no vector entry point found"
    lacking = {point: missing for point, cls in classes.items()
               if (missing := missing_sections(inspect.cleandoc(cls.__doc__ or "")))}
    assert not lacking, f"env docstrings without Gymnasium's sections ({', '.join(SECTIONS)}): {lacking}"


def test_the_section_check_wants_every_title_with_text_in_order() -> None:
    whole = "\n".join(f"## {section}\n\ntext." for section in SECTIONS)
    assert missing_sections(whole) == [] and missing_sections(whole.replace("## ", "")) == []
    assert missing_sections(whole.replace("## Rewards\n\ntext.", "## Rewards\n")) == ["Rewards"]
    swapped = whole.replace("Description", "@").replace("Arguments", "Description").replace("@", "Arguments")
    assert missing_sections(swapped)[-1].startswith("(out of order")
