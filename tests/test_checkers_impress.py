"""Impress's metrics and getters on presentations the test builds with python-pptx: compare_pptx_files' one-task
placement options, transitions, orientation, backgrounds, slide number colours, the slide panel, autosave, a
stretched picture, and the media a slide holds (fetched through a real controller server)."""

import copy
import io
from pathlib import Path

import pptx
import pytest
from controller_support import check_context, headless_controller
from lxml import etree
from PIL import Image
from pptx.dml.color import RGBColor
from pptx.enum.shapes import PP_PLACEHOLDER
from pptx.opc.constants import RELATIONSHIP_TYPE
from pptx.opc.package import Part
from pptx.opc.packuri import PackURI
from pptx.oxml.ns import qn
from pptx.util import Cm, Emu, Inches

from step_envs.checkers import GETTERS, METRICS, Score
from step_envs.checkers.metrics.slides import HIGH_TOP_EMU, LOW_TOP_EMU, RIGHT_LEFT_EMU


def score(name: str, result, expected=None, **options) -> Score:
    return METRICS[name](result, expected, **options)


def png(colour: str = "navy", size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def picture_deck(path: Path, slides: int = 2, title_top: int = Cm(2), picture: tuple[int, int, int, int] | None = None,
                 table_top: int | None = None) -> str:
    """Slides with a title; slide 2 holds the title "Product Comparison", a picture at ``picture`` (left, top,
    width, height; EMU) and, on a third slide, a table at ``table_top``."""
    deck = pptx.Presentation()
    for number in range(1, slides + 1):
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        slide.shapes.title.text = "Product Comparison" if number == 2 else f"Slide {number}"
        slide.shapes.title.top = title_top if number == 2 else Cm(1)
        if number == 2:
            left, top, width, height = picture or (Cm(2), Cm(8), Cm(6), Cm(4))
            slide.shapes.add_picture(io.BytesIO(png()), left, top, width, height)
        if number == 3:
            slide.shapes.add_table(2, 2, Cm(2), table_top or Cm(5), Cm(10), Cm(3))
    deck.save(path)
    return str(path)


def test_title_bottom_position_wants_the_title_lower_and_near_the_bottom(tmp_path):
    original = picture_deck(tmp_path / "o.pptx")
    options = {"examine_shape": False, "examine_title_bottom_position": True}
    moved = picture_deck(tmp_path / "m.pptx", title_top=Emu(LOW_TOP_EMU + Cm(2)))
    assert score("compare_pptx_files", moved, original, **options).value == 1.0
    assert score("compare_pptx_files", original, original, **options).reason == (
        f"slide 2 shape 1: title top {Cm(2)} is not below {Cm(2)} and {LOW_TOP_EMU}")


def test_table_bottom_position_reads_the_table_of_slide_three(tmp_path):
    original = picture_deck(tmp_path / "o.pptx", slides=3)
    options = {"examine_shape": False, "examine_table_bottom_position": True}
    assert score("compare_pptx_files", picture_deck(tmp_path / "m.pptx", slides=3, table_top=Cm(12)), original,
                 **options).value == 1.0
    assert score("compare_pptx_files", original, original, **options).value == 0.0


def test_right_and_top_positions_move_the_picture_of_slide_two(tmp_path):
    original = picture_deck(tmp_path / "o.pptx")
    right = picture_deck(tmp_path / "r.pptx", picture=(Emu(RIGHT_LEFT_EMU + Cm(1)), Cm(8), Cm(6), Cm(4)))
    top = picture_deck(tmp_path / "t.pptx", picture=(Cm(2), Emu(HIGH_TOP_EMU - Cm(1)), Cm(6), Cm(4)))
    assert score("compare_pptx_files", right, original, examine_shape=False, examine_right_position=True).value == 1
    assert score("compare_pptx_files", top, original, examine_shape=False, examine_right_position=True).value == 0
    assert score("compare_pptx_files", top, original, examine_shape=False, examine_top_position=True).value == 1
    assert score("compare_pptx_files", right, original, examine_shape=False, examine_top_position=True).value == 0


def test_image_size_and_modify_height_compare_only_what_the_task_changes(tmp_path):
    gold = picture_deck(tmp_path / "g.pptx", picture=(Cm(2), Cm(8), Cm(1), Cm(1)))
    elsewhere = picture_deck(tmp_path / "e.pptx", picture=(Cm(9), Cm(3), Cm(1), Cm(1)))
    larger = picture_deck(tmp_path / "l.pptx", picture=(Cm(2), Cm(8), Cm(2), Cm(2)))
    size = {"examine_shape": False, "examine_image_size": True, "approximately_tolerance": 0.01}
    assert score("compare_pptx_files", elsewhere, gold, **size).value == 1.0
    assert score("compare_pptx_files", larger, gold, **size).reason == (
        f"slide 2 shape 2: size {[Cm(2), Cm(2)]} != {[Cm(1), Cm(1)]}")
    wider = picture_deck(tmp_path / "w.pptx", picture=(Cm(9), Cm(3), Cm(5), Cm(1)))
    height = {"examine_shape": False, "examine_modify_height": True}
    assert score("compare_pptx_files", wider, gold, **height).value == 1.0
    assert score("compare_pptx_files", larger, gold, **height).reason == f"slide 2 shape 2: height {Cm(2)} != {Cm(1)}"


def test_run_count_can_be_switched_off(tmp_path):
    def deck(path: Path, runs: list[str]) -> str:
        made = pptx.Presentation()
        paragraph = made.slides.add_slide(made.slide_layouts[5]).shapes.title.text_frame.paragraphs[0]
        for text in runs:
            paragraph.add_run().text = text
        made.save(path)
        return str(path)

    split, whole = deck(tmp_path / "s.pptx", ["Online ", "Shopping"]), deck(tmp_path / "w.pptx", ["Online Shopping"])
    assert score("compare_pptx_files", split, whole).reason == "slide 1 shape 1 paragraph 1: 2 runs != 1"
    assert score("compare_pptx_files", split, whole, examine_run_count=False).value == 1.0


def simple_deck(path: Path, width: int = Inches(10), height: int = Inches(7.5), background: str | None = None,
                transition: str | None = None) -> str:
    deck = pptx.Presentation()
    deck.slide_width, deck.slide_height = width, height
    for _ in range(2):
        slide = deck.slides.add_slide(deck.slide_layouts[6])
        if background:
            slide.background.fill.solid()
            slide.background.fill.fore_color.rgb = RGBColor.from_string(background)
    if transition:  # as LibreOffice saves one: <p:transition><p:dissolve/></p:transition> after the slide's content
        element = deck.slides[0]._element
        element.append(etree.fromstring(f'<p:transition xmlns:p="{element.nsmap["p"]}"><p:{transition}/>'
                                        "</p:transition>"))
    deck.save(path)
    return str(path)


def test_check_transition_finds_the_transition_type_on_the_slide(tmp_path):
    rules = {"slide_idx": 0, "transition_type": "dissolve"}
    assert score("check_transition", simple_deck(tmp_path / "d.pptx", transition="dissolve"), rules).value == 1.0
    assert score("check_transition", simple_deck(tmp_path / "f.pptx", transition="fade"), rules) == Score(
        0.0, "slide 1's transition is ['fade'], not dissolve")
    assert score("check_transition", simple_deck(tmp_path / "n.pptx"), rules).reason == "slide 1 has no transition"
    assert score("check_transition", simple_deck(tmp_path / "n.pptx"), {"slide_idx": 5, "transition_type": "fade"}
                 ).reason == "the presentation has no slide 6"


def test_portrait_orientation_and_background_distance(tmp_path):
    assert score("check_slide_orientation_Portrait", simple_deck(tmp_path / "p.pptx", Inches(7.5), Inches(10))
                 ).value == 1.0
    assert score("check_slide_orientation_Portrait", simple_deck(tmp_path / "l.pptx")).value == 0.0
    rules = {"rgb": [0, 0, 255], "original_rgb": [255, 255, 255]}
    metric = "evaluate_presentation_fill_to_rgb_distance"
    assert score(metric, simple_deck(tmp_path / "b.pptx", background="0000FF"), rules).value == 1.0
    assert score(metric, simple_deck(tmp_path / "w.pptx", background="FFFFFF"), rules).value == 0.0
    navy = score(metric, simple_deck(tmp_path / "n.pptx", background="000080"), rules).value
    assert navy == pytest.approx(1 - 127 / (3 * 255**2) ** 0.5)
    assert score(metric, simple_deck(tmp_path / "t.pptx"), rules).value == 0.0  # theme background: no RGB


def test_check_left_panel_looks_for_the_slides_view():
    tree = ('<desktop-frame name="main"><frame name="deck.pptx - LibreOffice Impress">{}</frame></desktop-frame>')
    shown = tree.format('<document-frame name="Slides View"/><document-frame name="Outline"/>')
    assert score("check_left_panel", shown).value == 1.0
    assert score("check_left_panel", tree.format('<document-frame name="Outline"/>')).value == 0.0


def numbered_deck(path: Path, colour: str | None) -> str:
    """A deck whose master gives the slide number placeholder's text ``colour`` (RGB hex)."""
    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[6])
    number = next(shape for shape in deck.slide_master.placeholders
                  if shape.placeholder_format.type == PP_PLACEHOLDER.SLIDE_NUMBER)
    if colour:
        number.text_frame.paragraphs[0].font.color.rgb = RGBColor.from_string(colour)
    deck.save(path)
    return str(path)


def test_page_number_colour_is_read_from_the_masters_slide_number(tmp_path):
    assert score("check_page_number_colors", numbered_deck(tmp_path / "r.pptx", "E01010"), {"color": "red"}) == Score(
        1.0, "slide numbers are #E01010")
    assert score("check_page_number_colors", numbered_deck(tmp_path / "b.pptx", "1010E0"), {"color": "red"}).value == 0
    assert score("check_page_number_colors", numbered_deck(tmp_path / "n.pptx", None), {"color": "red"}).value == 0.0


def test_auto_saving_time_reads_libreoffice_settings(tmp_path):
    settings = tmp_path / "registrymodifications.xcu"
    settings.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><oor:items xmlns:oor="http://openoffice.org/2001/registry">'
        '<item oor:path="/org.openoffice.Office.Common/Save/Document"><prop oor:name="AutoSave" oor:op="fuse">'
        '<value>true</value></prop></item><item oor:path="/org.openoffice.Office.Common/Save/Document">'
        '<prop oor:name="AutoSaveTimeIntervall" oor:op="fuse"><value>3</value></prop></item></oor:items>')
    assert score("check_auto_saving_time", str(settings), {"minutes": 3}) == Score(1.0, "autosave every 3 minutes")
    assert score("check_auto_saving_time", str(settings), {"minutes": 5}).value == 0.0


def test_image_stretch_and_center_finds_the_picture_by_its_bytes(tmp_path):
    def deck(path: Path, box: tuple[int, int, int, int]) -> str:
        made = pptx.Presentation()
        made.slides.add_slide(made.slide_layouts[6]).shapes.add_picture(io.BytesIO(png()), *box)
        made.save(path)
        return str(path)

    original = deck(tmp_path / "o.pptx", (Inches(1), Inches(1), Inches(4), Inches(3)))
    cover = deck(tmp_path / "c.pptx", (Inches(0.2), 0, Inches(9.8), Inches(7.5)))
    assert score("check_image_stretch_and_center", cover, original).value == 1.0
    corner = score("check_image_stretch_and_center", deck(tmp_path / "k.pptx", (0, 0, Inches(5), Inches(7.5))),
                   original)
    assert corner.value == 0.0 and "'width'" in corner.reason and "'left'" in corner.reason


def media_deck(path: Path, audio: bytes | None = None, linked: str | None = None, background: bytes | None = None
               ) -> str:
    """Two slides; the first plays ``audio`` (embedded) or the file ``linked`` (a file:// link), the second has the
    picture ``background`` as its background, as LibreOffice saves them."""
    deck = pptx.Presentation()
    first, second = (deck.slides.add_slide(deck.slide_layouts[6]) for _ in range(2))
    if audio is not None:
        part = Part(PackURI("/ppt/media/media1.wav"), "audio/x-wav", deck.part.package, audio)
        first.part.relate_to(part, RELATIONSHIP_TYPE.AUDIO)
    if linked is not None:
        first.part.relate_to(Path(linked).as_uri(), RELATIONSHIP_TYPE.AUDIO, is_external=True)
    if background is not None:
        _, rid = second.part.get_or_add_image_part(io.BytesIO(background))
        content = second._element.find(qn("p:cSld"))
        content.insert(0, copy.deepcopy(etree.fromstring(
            f'<p:bg xmlns:p="{content.nsmap["p"]}" xmlns:a="{content.nsmap["a"]}" xmlns:r="{content.nsmap["r"]}">'
            f'<p:bgPr><a:blipFill><a:blip r:embed="{rid}"/><a:stretch/></a:blipFill><a:effectLst/></p:bgPr></p:bg>')))
    deck.save(path)
    return str(path)


@pytest.fixture(scope="module")
def controller():
    with headless_controller() as client:
        yield client


def test_audio_in_slide_extracts_embedded_and_fetches_linked_audio(controller, tmp_path):
    ctx = check_context(controller, tmp_path)
    embedded = media_deck(tmp_path / "e.pptx", audio=b"RIFF-embedded")
    config = {"type": "audio_in_slide", "ppt_file_path": embedded, "slide_index": 0, "dest": "song.wav"}
    assert Path(GETTERS["audio_in_slide"](ctx, config)).read_bytes() == b"RIFF-embedded"
    song = tmp_path / "Baseball.mp3"
    song.write_bytes(b"ID3-linked")
    linked = media_deck(tmp_path / "l.pptx", linked=str(song))
    assert Path(GETTERS["audio_in_slide"](ctx, dict(config, ppt_file_path=linked))).read_bytes() == b"ID3-linked"
    assert GETTERS["audio_in_slide"](ctx, dict(config, slide_index=1)) is None
    assert GETTERS["audio_in_slide"](ctx, dict(config, ppt_file_path=str(tmp_path / "missing.pptx"))) is None


def test_background_image_in_slide_extracts_the_background_picture(controller, tmp_path):
    ctx = check_context(controller, tmp_path)
    picture = png("orange", (64, 48))
    deck = media_deck(tmp_path / "b.pptx", background=picture)
    config = {"type": "background_image_in_slide", "ppt_file_path": deck, "slide_index": 1, "dest": "bg.png"}
    assert Path(GETTERS["background_image_in_slide"](ctx, config)).read_bytes() == picture
    assert GETTERS["background_image_in_slide"](ctx, dict(config, slide_index=0)) is None


def test_rule_paths_under_home_are_expanded_to_the_envs_home(controller, tmp_path):
    ctx = check_context(controller, tmp_path)
    home = controller.execute(["python3", "-c", "import os; print(os.path.expanduser('~'))"])["output"].strip()
    rules = {"recording_file_path": "~/Desktop", "expected": ["~", "a ~/b", 3]}
    assert GETTERS["rule"](ctx, {"type": "rule", "rules": rules}) == {
        "recording_file_path": f"{home}/Desktop", "expected": [home, "a ~/b", 3]}
