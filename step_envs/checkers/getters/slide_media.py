"""Getters of the files a slide uses, with the rules of OSWorld's ``getters/impress.py``: the audio a slide
plays and the picture filling its background, embedded in the presentation or linked.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from xml.etree import ElementTree

from step_envs.checkers.getters.access import cache_path, fetch_env_file, text_of
from step_envs.checkers.metrics.slides import PPTX_NS, slide_part
from step_envs.checkers.registry import CheckContext, getter, short


def _relations(deck: zipfile.ZipFile, index: int) -> list[dict[str, str]]:
    """The relationships of slide ``index``, in file order (``Id``, ``Type``, ``Target``, ``TargetMode``)."""
    name = f"ppt/slides/_rels/slide{index + 1}.xml.rels"
    if name not in deck.namelist():
        return []
    root = ElementTree.fromstring(deck.read(name))
    return [dict(relation.attrib) for relation in root.findall("rel:Relationship", PPTX_NS)]


def _fetch_target(ctx: CheckContext, config: dict[str, Any], deck: zipfile.ZipFile, target: str) -> str | None:
    """The file a relationship points at, saved to ``cache_dir/dest``: a part of the presentation (``../media/x``)
    read from the zip, or a linked file (``file://`` URL or path) fetched from the env."""
    scheme, dest = urlparse(target).scheme, text_of(config, "dest")
    if scheme == "file" or target.startswith("/"):
        return fetch_env_file(ctx, unquote(urlparse(target).path) if scheme else target, dest)
    if scheme:
        raise ValueError(f"the slide links {target!r}; only files in the presentation or the env are read")
    member = posixpath.normpath(posixpath.join("ppt/slides", target))
    if member not in deck.namelist():
        return None
    local = cache_path(ctx, dest)
    local.write_bytes(deck.read(member))
    return str(local)


def _deck(ctx: CheckContext, config: dict[str, Any]) -> tuple[zipfile.ZipFile, int] | None:
    """The presentation at ``ppt_file_path`` in the env, opened as a zip, and the config's ``slide_index``."""
    path = text_of(config, "ppt_file_path")
    index = config.get("slide_index")
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"getter config 'slide_index' must be a slide number from 0, got {short(index)}")
    local = fetch_env_file(ctx, path, Path(path).name)
    return None if local is None else (zipfile.ZipFile(local), index)


@getter("audio_in_slide")
def audio_in_slide(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The first audio slide ``slide_index`` (from 0) of the presentation ``ppt_file_path`` in the env plays,
    embedded or linked, saved to ``cache_dir/dest``; None when the slide has none."""
    opened = _deck(ctx, config)
    if opened is None:
        return None
    deck, index = opened
    with deck:
        for relation in _relations(deck, index):
            if "audio" in relation.get("Type", ""):
                return _fetch_target(ctx, config, deck, relation.get("Target", ""))
    return None


@getter("background_image_in_slide")
def background_image_in_slide(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The picture filling the background of slide ``slide_index`` (from 0) of the presentation ``ppt_file_path``
    in the env, saved to ``cache_dir/dest``; None when the slide's background is no picture."""
    opened = _deck(ctx, config)
    if opened is None:
        return None
    deck, index = opened
    with deck:
        if slide_part(index) not in deck.namelist():
            return None
        root = ElementTree.fromstring(deck.read(slide_part(index)))
        embed = f"{{{PPTX_NS['r']}}}embed"
        image = next((blip.get(embed) for background in root.iter(f"{{{PPTX_NS['p']}}}bgPr")
                      for blip in background.iter(f"{{{PPTX_NS['a']}}}blip") if blip.get(embed)), None)
        if image is None:
            return None
        for relation in _relations(deck, index):
            if relation.get("Id") == image and "image" in relation.get("Type", ""):
                return _fetch_target(ctx, config, deck, relation.get("Target", ""))
    return None
