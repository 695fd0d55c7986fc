"""Impress's one-purpose metrics, with the rules of OSWorld's ``metrics/slides.py``: slide transitions,
orientation, backgrounds, the slide number's colour, the slide panel, picture placement and the autosave interval.
"""

from __future__ import annotations

import math
import zipfile
from typing import Any
from xml.etree import ElementTree

from pptx.enum.dml import MSO_FILL
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.util import Inches

from step_envs.checkers.metrics.office import libreoffice_setting
from step_envs.checkers.metrics.scoring import rules_of, verdict
from step_envs.checkers.metrics.slides import PPTX_NS, open_pptx, slide_part
from step_envs.checkers.registry import NO_RESULT, Score, metric, short


@metric("check_transition")
def check_transition(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when slide ``rules["slide_idx"]`` (from 0) has a transition of type ``rules["transition_type"]`` (the
    element's name in the slide's XML: ``dissolve``, ``fade``, ``wipe``, ...)."""
    rules = rules_of(rules, "{'slide_idx': n, 'transition_type': name}")
    index, kind = rules.get("slide_idx"), rules.get("transition_type")
    if not isinstance(index, int) or not isinstance(kind, str):
        raise ValueError(f"needs rules {{'slide_idx': int, 'transition_type': name}}, got {short(rules)}")
    if result is None:
        return NO_RESULT
    with zipfile.ZipFile(result) as deck:
        if slide_part(index) not in deck.namelist():
            return Score(0.0, f"the presentation has no slide {index + 1}")
        root = ElementTree.fromstring(deck.read(slide_part(index)))
    transition = root.find(".//p:transition", PPTX_NS)
    if transition is None:
        return Score(0.0, f"slide {index + 1} has no transition")
    kinds = [child.tag.rsplit("}", 1)[-1] for child in transition]
    return verdict(transition.find(f".//p:{kind}", PPTX_NS) is not None, f"slide {index + 1} has a {kind} transition",
                   f"slide {index + 1}'s transition is {kinds or 'plain'}, not {kind}")


@metric("check_slide_orientation_Portrait")
def check_slide_orientation_portrait(result: str | None, expected: Any = None, **options: Any) -> Score:
    """1 when the slides are taller than wide."""
    if result is None:
        return NO_RESULT
    deck = open_pptx(result)
    return verdict(deck.slide_width < deck.slide_height, "portrait slides",
                   f"slides are {deck.slide_width} wide and {deck.slide_height} high (EMU)")


def _solid_rgb(fill: Any) -> tuple[int, int, int] | None:
    try:
        rgb = fill.fore_color.rgb
    except AttributeError:  # a theme colour has no RGB of its own
        return None
    return None if rgb is None else (rgb[0], rgb[1], rgb[2])


def _slide_fill(slide: Any) -> tuple[int, int, int] | None:
    """The slide's solid background colour, or its master's when the slide follows the master; None otherwise."""
    fill = slide.background.fill
    if fill.type == MSO_FILL.BACKGROUND:
        fill = slide.slide_layout.slide_master.background.fill
    return _solid_rgb(fill) if fill.type == MSO_FILL.SOLID else None


RGB_DIAGONAL = math.sqrt(3 * 255**2)


@metric("evaluate_presentation_fill_to_rgb_distance")
def evaluate_presentation_fill_to_rgb_distance(result: str | None, rules: Any, **options: Any) -> Score:
    """``1 - mean over slides of d``, d the RGB distance of the slide's solid background (its own or its
    master's) to ``rules["rgb"]`` over :data:`RGB_DIAGONAL`; a slide with no solid RGB background, or still
    ``rules["original_rgb"]``, counts d = 1."""
    rules = rules_of(rules, "{'rgb': [r, g, b], 'original_rgb': [r, g, b]}")
    wanted, original = rules.get("rgb"), rules.get("original_rgb")
    if not (isinstance(wanted, list) and len(wanted) == 3):
        raise ValueError(f"rules['rgb'] must be [r, g, b], got {short(wanted)}")
    if result is None:
        return NO_RESULT
    slides = list(open_pptx(result).slides)
    if not slides:
        return Score(0.0, "the presentation has no slide")
    distances = []
    for slide in slides:
        colour = _slide_fill(slide)
        if colour is None or (original is not None and list(colour) == list(original)):
            distances.append(1.0)
        else:
            distances.append(math.dist(colour, wanted) / RGB_DIAGONAL)
    value = 1 - sum(distances) / len(distances)
    return Score(value, f"mean background distance to {wanted}: {1 - value:.3f} over {len(slides)} slides")


@metric("check_left_panel")
def check_left_panel(result: str | None, expected: Any = None, **options: Any) -> Score:
    """1 when the accessibility tree shows Impress's slide panel (a ``document-frame`` named ``Slides View``)."""
    if result is None:
        return NO_RESULT
    root = ElementTree.fromstring(result)
    shown = any(element.get("name") == "Slides View" for element in root.iter("document-frame"))
    return verdict(shown, "the slide panel is open", "no 'Slides View' in the accessibility tree")


_COLOUR_TESTS = {
    "red": lambda r, g, b: r > g + 50 and r > b + 50,
    "green": lambda r, g, b: g > r + 50 and g > b + 50,
    "blue": lambda r, g, b: b > r + 50 and b > g + 50,
    "black": lambda r, g, b: max(r, g, b) < 50,
}
"""OSWorld's colour names: the channel leads the others by over 50 (black: every channel under 50)."""


def slide_number_colour(path: str) -> str | None:
    """The RGB (``"FF0000"``) the first slide master gives slide numbers: the last explicit colour of the slide
    number placeholder's text; failing that OSWorld's guesses, the last colour other than black of a text run in
    the master, of anything in the master, or its last colour."""
    with zipfile.ZipFile(path) as deck:
        master = "ppt/slideMasters/slideMaster1.xml"
        if master not in deck.namelist():
            return None
        root = ElementTree.fromstring(deck.read(master))
    numbers = [shape for shape in root.iter(f"{{{PPTX_NS['p']}}}sp")
               if shape.find(".//p:nvPr/p:ph[@type='sldNum']", PPTX_NS) is not None]
    own = [colour.get("val") for shape in numbers for colour in shape.findall(".//a:solidFill/a:srgbClr", PPTX_NS)]
    if own:
        return own[-1]
    for candidates in (root.findall(".//a:rPr//a:solidFill//a:srgbClr", PPTX_NS),
                       root.findall(".//a:solidFill//a:srgbClr", PPTX_NS)):
        colours = [colour.get("val") for colour in candidates if colour.get("val") not in (None, "000000")]
        if colours:
            return colours[-1]
    every = root.findall(".//a:solidFill//a:srgbClr", PPTX_NS)
    return every[-1].get("val") if every else None


@metric("check_page_number_colors")
def check_page_number_colors(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when the slide number colour (:func:`slide_number_colour`) is ``rules["color"]`` (red, green, blue or
    black, see :data:`_COLOUR_TESTS`; another name accepts any colour, as in OSWorld)."""
    wanted = rules_of(rules, "{'color': name}").get("color")
    if not isinstance(wanted, str):
        raise ValueError(f"needs rules {{'color': name}} (red, green, blue or black), got {short(rules)}")
    if result is None:
        return NO_RESULT
    colour = slide_number_colour(result)
    if colour is None or len(colour) != 6:
        return Score(0.0, f"no slide number colour found ({colour!r})")
    try:
        rgb = tuple(int(colour[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return Score(0.0, f"slide number colour {colour!r} is not RGB")
    test = _COLOUR_TESTS.get(wanted)
    return verdict(test is None or test(*rgb), f"slide numbers are #{colour}", f"slide numbers are #{colour}, not "
                   f"{wanted}")


@metric("check_auto_saving_time")
def check_auto_saving_time(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when LibreOffice's settings (``registrymodifications.xcu``) save recovery information every
    ``rules["minutes"]`` minutes (``AutoSaveTimeIntervall``); unset scores 0."""
    minutes = rules_of(rules, "{'minutes': n}").get("minutes")
    if result is None:
        return NO_RESULT
    value = libreoffice_setting(result, "/org.openoffice.Office.Common/Save/Document", "AutoSaveTimeIntervall")
    if value is None:
        return Score(0.0, "AutoSaveTimeIntervall is not set")
    return verdict(value.strip() == str(minutes), f"autosave every {value} minutes",
                   f"autosave every {value} minutes, not {minutes}")


STRETCH_SLACK = Inches(0.5)


@metric("check_image_stretch_and_center")
def check_image_stretch_and_center(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the first picture of the original's (``expected``) first slide, found in the result's first slide by
    its image bytes, covers the slide and is centred: width and height within :data:`STRETCH_SLACK` of the
    slide's, and its left and top within it of centring."""
    if result is None or expected is None:
        return NO_RESULT
    original, changed = open_pptx(expected), open_pptx(result)
    if not len(original.slides) or not len(changed.slides):
        return Score(0.0, "a presentation has no slide")
    pictures = [shape for shape in original.slides[0].shapes if shape.shape_type == MSO_SHAPE_TYPE.PICTURE]
    if not pictures:
        return Score(0.0, "the original's first slide has no picture")
    blob = pictures[0].image.blob
    found = [shape for shape in changed.slides[0].shapes
             if shape.shape_type == MSO_SHAPE_TYPE.PICTURE and shape.image.blob == blob]
    if not found:
        return Score(0.0, "the picture is not on the result's first slide")
    picture, width, height = found[-1], original.slide_width, original.slide_height
    gaps = {"width": picture.width - width, "height": picture.height - height,
            "left": picture.left - (width - picture.width) / 2, "top": picture.top - (height - picture.height) / 2}
    off = {name: int(gap) for name, gap in gaps.items() if abs(gap) > STRETCH_SLACK}
    return verdict(not off, "the picture fills the slide, centred", f"off by more than 0.5 inch (EMU): {off}")
