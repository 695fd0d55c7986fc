"""Good cases (each scores 1) of the LibreOffice, VLC, GIMP, media, archive, answer and system metrics, for the
robustness tests in test_checkers_robustness.py, which feed each metric bad inputs around its good case.

Each case is (kind of result, kind of expected side, factory of (result, expected, options)); the kinds are those of
test_checkers_robustness.py: "file", "value", "tree" for results, "file", "rules", "value", "none" for the expected
side."""

import io
import math
import struct
import subprocess
import wave
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pptx
from docx.enum.text import WD_TAB_ALIGNMENT
from docx.shared import Inches, Pt, RGBColor
from lxml import etree
from osworld_files import gradient, write_pdf
from PIL import Image, ImageDraw
from pptx.dml.color import RGBColor as SlideColor
from pptx.enum.shapes import PP_PLACEHOLDER

Case = tuple[str, str, Callable[[Path], tuple[Any, Any, dict[str, Any]]]]


def text(path: Path, content: str) -> str:
    path.write_text(content)
    return str(path)


def xcu(path: Path, item: str, prop: str, value: str) -> str:
    return text(path, f'<oor:items xmlns:oor="http://openoffice.org/2001/registry"><item oor:path="{item}"><prop '
                      f'oor:name="{prop}" oor:op="fuse"><value>{value}</value></prop></item></oor:items>')


def sound(path: Path, frequency: float = 440.0) -> str:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * frequency * i / 16000)))
                                 for i in range(16000)))
    return str(path)


def animation(path: Path) -> str:
    """A 12-frame animated GIF (a square moving right): a video FFmpeg reads."""
    frames = []
    for step in range(12):
        frame = Image.new("RGB", (64, 48), "white")
        ImageDraw.Draw(frame).rectangle((step * 4, 10, step * 4 + 12, 30), fill="navy")
        frames.append(frame)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    return str(path)


def tagged_mp3(path: Path) -> str:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=0.2", "-metadata",
                    "title=Missing You", "-metadata", "artist=Cheng Xiang", str(path)], check=True, timeout=60)
    return str(path)


def deck(path: Path, portrait: bool = False, background: str | None = None, transition: str | None = None,
         number_colour: str | None = None, picture: tuple[int, int, int, int] | None = None) -> str:
    presentation = pptx.Presentation()
    if portrait:
        presentation.slide_width, presentation.slide_height = presentation.slide_height, presentation.slide_width
    slide = presentation.slides.add_slide(presentation.slide_layouts[6])
    if background:
        slide.background.fill.solid()
        slide.background.fill.fore_color.rgb = SlideColor.from_string(background)
    if transition:
        slide._element.append(etree.fromstring(f'<p:transition xmlns:p="{slide._element.nsmap["p"]}">'
                                               f"<p:{transition}/></p:transition>"))
    if number_colour:
        number = next(shape for shape in presentation.slide_master.placeholders
                      if shape.placeholder_format.type == PP_PLACEHOLDER.SLIDE_NUMBER)
        number.text_frame.paragraphs[0].font.color.rgb = SlideColor.from_string(number_colour)
    if picture:
        png = io.BytesIO()
        Image.open(gradient(path.with_suffix(".png"))).save(png, "PNG")
        slide.shapes.add_picture(io.BytesIO(png.getvalue()), *picture)
    presentation.save(path)
    return str(path)


def document(path: Path, *paragraphs: str, italic_size: float | None = None, tab_at: float | None = None) -> str:
    made = docx.Document()
    for line in paragraphs:
        paragraph = made.add_paragraph(line)
        if tab_at is not None:
            paragraph.paragraph_format.tab_stops.add_tab_stop(Inches(tab_at), WD_TAB_ALIGNMENT.RIGHT)
    if italic_size is not None:
        run = made.add_paragraph().add_run("Hamlet")
        run.italic, run.font.size = True, Pt(italic_size)
    made.save(path)
    return str(path)


def coloured_table(path: Path) -> str:
    made = docx.Document()
    cells = made.add_table(rows=1, cols=2).rows[0].cells
    for cell, (word, colour) in zip(cells, (("and", RGBColor(255, 0, 0)), ("big", RGBColor(0, 0, 255))), strict=True):
        cell.paragraphs[0].add_run(word).font.color.rgb = colour
    made.save(path)
    return str(path)


def odt(path: Path, highlighted: bool) -> str:
    """An OpenDocument text as LibreOffice writes one, "participant" in a span (highlighted or not)."""
    colour = "#ffff00" if highlighted else "transparent"
    content = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.3">'
        f'<office:automatic-styles><style:style style:name="T1" style:family="text"><style:text-properties '
        f'fo:background-color="{colour}"/></style:style></office:automatic-styles><office:body><office:text>'
        '<text:p>Call the <text:span text:style-name="T1">participant</text:span> today.</text:p>'
        "</office:text></office:body></office:document-content>")
    manifest = ('<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
                'manifest:version="1.3"><manifest:file-entry manifest:full-path="/" manifest:media-type='
                '"application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" '
                'manifest:media-type="text/xml"/></manifest:manifest>')
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        out.writestr("content.xml", content)
        out.writestr("META-INF/manifest.xml", manifest)
    return str(path)


def pictures(path: Path, colour: str, name: str) -> str:
    image = Image.new("RGB", (60, 60), colour)
    ImageDraw.Draw(image).ellipse((20, 20, 40, 40), fill="black")
    image.save(path / name)
    return str(path / name)


def text_box(path: Path) -> str:
    """Black text (a bar) starting 1 pixel from the left edge."""
    image = Image.new("RGB", (100, 40), "white")
    ImageDraw.Draw(image).rectangle((1, 10, 30, 20), fill="black")
    image.save(path)
    return str(path)


def palette(path: Path, source: str) -> str:
    Image.open(source).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    return str(path)


def triangle(path: Path) -> str:
    image = Image.new("RGB", (100, 100), (40, 40, 160))
    ImageDraw.Draw(image).polygon([(40, 55), (60, 55), (50, 40)], fill=(250, 220, 0))
    image.save(path)
    return str(path)


def picture_pdf(path: Path) -> str:
    Image.open(gradient(path.with_suffix(".png"))).convert("RGB").save(path)
    return str(path)


def epub(path: Path) -> str:
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("content.opf", "<package>\n<dc:title>Pass Through</dc:title>\n</package>\n")
        book.writestr("chapter.html", "<html><body><p>It rained.</p></body></html>")
    return str(path)


def archive(path: Path) -> str:
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.write(write_pdf(path.with_suffix(".pdf"), "Essay"), "essay.pdf")
        zipped.writestr("notes.txt", "due Friday")
    return str(path)


def cities(path: Path) -> str:
    workbook = openpyxl.Workbook()
    for row in range(2, 23):
        workbook.active[f"C{row}"] = "Montréal"
    workbook.save(path)
    return str(path)


def vlcrc(path: Path, line: str) -> str:
    return text(path, f"[qt]\n#qt-bgcone=1\n{line}\n")


SCREEN = {"width": 1280, "height": 720}
STATUS = "  Local time: x\nUniversal time: y\n    RTC time: z\n   Time zone: Etc/UTC (UTC, +0000)\n"
FOLDER = {"type": "directory", "name": "cpjpg", "children": [{"type": "file", "name": "a.jpg"}]}
PLACES = ["深圳市福田区益田路5055号", "深圳市福田区福华三路111号", "深圳市福田区正义街1号"]

OFFICE_CASES: dict[str, Case] = {
    # VLC (step_envs/checkers/metrics/app_settings.py, os_state.py)
    "check_qt_bgcone": ("file", "rules", lambda d: (vlcrc(d / "vlcrc", "qt-bgcone=0"), {"expected_qt_bgcone": 0}, {})),
    "check_qt_max_volume": ("file", "rules", lambda d: (vlcrc(d / "vlcrc", "qt-max-volume=200"),
                                                        {"expected_qt_max_volume": 200}, {})),
    "check_qt_minimal_view": ("file", "rules", lambda d: (vlcrc(d / "vlcrc", "qt-minimal-view=1"),
                                                          {"expected_qt_minimal_view": 1}, {})),
    "check_one_instance_when_started_from_file": ("file", "rules", lambda d: (
        vlcrc(d / "vlcrc", "one-instance-when-started-from-file=0"),
        {"expected_one_instance_when_started_from_file": 0}, {})),
    "check_play_and_exit": ("file", "rules", lambda d: (vlcrc(d / "vlcrc", "play-and-exit=1"),
                                                        {"expected_play_and_exit": 1}, {})),
    "check_global_key_play_pause": ("file", "rules", lambda d: (vlcrc(d / "vlcrc", "global-key-play-pause=Ctrl+p"),
                                                                {"expected_global_key_play_pause": 1}, {})),
    "check_qt_slider_colours": ("file", "rules", lambda d: (vlcrc(d / "vlcrc", "qt-slider-colours=0;0;0;9;9;9"),
                                                            {"type": "blackish"}, {})),
    "is_vlc_recordings_folder": ("file", "rules", lambda d: (vlcrc(d / "vlcrc", "input-record-path=/srv/rec"),
                                                             {"recording_file_path": "/srv/rec"}, {})),
    "is_vlc_fullscreen": ("value", "value", lambda d: (dict(SCREEN), dict(SCREEN), {})),
    # audio and video (media.py)
    "compare_audios": ("file", "file", lambda d: (sound(d / "r.wav"), sound(d / "e.wav"), {})),
    "compare_videos": ("file", "file", lambda d: (animation(d / "r.gif"), animation(d / "e.gif"), {})),
    "check_mp3_meta": ("file", "rules", lambda d: (tagged_mp3(d / "song.mp3"), {
        "title": {"method": "eq", "ref": "Missing You"}, "artist": {"method": "eq", "ref": "Cheng Xiang"}}, {})),
    # Impress (slide_checks.py)
    "check_transition": ("file", "rules", lambda d: (deck(d / "r.pptx", transition="dissolve"), {
        "slide_idx": 0, "transition_type": "dissolve"}, {})),
    "check_slide_orientation_Portrait": ("file", "none", lambda d: (deck(d / "r.pptx", portrait=True), None, {})),
    "evaluate_presentation_fill_to_rgb_distance": ("file", "rules", lambda d: (
        deck(d / "r.pptx", background="0000FF"), {"rgb": [0, 0, 255], "original_rgb": [255, 255, 255]}, {})),
    "check_left_panel": ("value", "none", lambda d: ('<desktop-frame><document-frame name="Slides View"/>'
                                                     "</desktop-frame>", None, {})),
    "check_page_number_colors": ("file", "rules", lambda d: (deck(d / "r.pptx", number_colour="FF0000"),
                                                             {"color": "red"}, {})),
    "check_auto_saving_time": ("file", "rules", lambda d: (xcu(
        d / "r.xcu", "/org.openoffice.Office.Common/Save/Document", "AutoSaveTimeIntervall", "3"), {"minutes": 3}, {})),
    "check_image_stretch_and_center": ("file", "file", lambda d: (
        deck(d / "r.pptx", picture=(0, 0, 9144000, 6858000)), deck(d / "e.pptx", picture=(914400, 914400, 914400,
                                                                                         914400)), {})),
    # Writer (document_checks.py)
    "check_tabstops": ("file", "file", lambda d: (document(d / "r.docx", "one two three\trest", tab_at=6.0),
                                                  document(d / "e.docx", "one two three\trest", tab_at=6.0), {})),
    "check_highlighted_words": ("file", "file", lambda d: (odt(d / "r.odt", False), odt(d / "e.odt", False), {})),
    "evaluate_colored_words_in_tables": ("file", "file", lambda d: (coloured_table(d / "r.docx"),
                                                                    coloured_table(d / "e.docx"), {})),
    "check_italic_font_size_14": ("file", "file", lambda d: (document(d / "r.docx", "Read", italic_size=14),
                                                             document(d / "e.docx", "Read", italic_size=14), {})),
    "find_default_font": ("file", "rules", lambda d: (xcu(d / "r.xcu", "/org.openoffice.Office.Writer/DefaultFont",
                                                          "Standard", "Times New Roman"),
                                                      {"font_name": "Times New Roman"}, {})),
    "compare_references": ("file", "file", lambda d: (document(d / "r.docx", "References", "Lee, K. (2019)."),
                                                      document(d / "e.docx", "References", "Lee, K. (2019)."), {})),
    "compare_docx_files_and_ignore_new_lines": ("file", "file", lambda d: (
        document(d / "r.docx", "a", "", "b"), document(d / "e.docx", "a b"), {})),
    "compare_unique_train_records": ("file", "value", lambda d: (
        document(d / "r.docx", "06:00, T1, S1, 1"),
        [document(d / "gold.docx", "06:00, T1, S1, 1"), document(d / "orig.docx", "06:00, T1, S1, 1",
                                                                 "06:05, T1, S2, 1")], {})),
    # GIMP (images.py)
    "check_structure_sim_with_threshold": ("file", "file", lambda d: (gradient(d / "r.png"), gradient(d / "e.png"),
                                                                      {})),
    "check_palette_and_structure_sim": ("file", "file", lambda d: (palette(d / "r.png", gradient(d / "e.png")),
                                                                   str(d / "e.png"), {})),
    "check_image_file_size": ("file", "rules", lambda d: (gradient(d / "r.png"), {"max_size": 600000}, {})),
    "check_green_background": ("file", "file", lambda d: (pictures(d, (0, 200, 0), "r.png"),
                                                          pictures(d, "white", "e.png"), {})),
    "check_textbox_on_leftside": ("file", "none", lambda d: (text_box(d / "r.png"), None, {})),
    "check_triangle_position": ("file", "none", lambda d: (triangle(d / "r.png"), None, {})),
    # PDFs, EPUBs, archives (archives.py)
    "check_pdf_pages": ("file", "rules", lambda d: (write_pdf(d / "r.pdf", "x"), {"relation": "eq", "ref_value": 1},
                                                    {})),
    "compare_pdf_images": ("file", "file", lambda d: (picture_pdf(d / "r.pdf"), picture_pdf(d / "e.pdf"), {})),
    "compare_epub": ("file", "file", lambda d: (epub(d / "r.epub"), epub(d / "e.epub"), {})),
    "compare_zip_files": ("file", "file", lambda d: (archive(d / "r.zip"), archive(d / "e.zip"), {})),
    # answers in files (text.py, documents.py, table.py)
    "check_line_number": ("file", "rules", lambda d: (text(d / "r.txt", "12:00:01 all\n12:00:02 all\n"),
                                                      {"expected": "2"}, {})),
    "compare_result_files": ("file", "file", lambda d: (text(d / "r.txt", "median 25.5"), text(d / "e.txt", "25.5"),
                                                        {})),
    "compare_python_pure_text": ("file", "file", lambda d: (text(d / "r.py", "x = 1\n"), text(d / "e.py", "x = 1\n"),
                                                            {})),
    "fuzzy_place_math": ("file", "rules", lambda d: (document(d / "r.docx", *PLACES), {"expected": PLACES}, {})),
    "compare_conference_city_in_order": ("file", "rules", lambda d: (cities(d / "r.xlsx"),
                                                                     {"expected": ["Montreal"] * 21}, {})),
    # system state (os_state.py)
    "is_in_vm_clickboard": ("value", "value", lambda d: ({"expected": "/home/user/secret.docx"},
                                                         "/home/user/secret.docx\n", {})),
    "is_utc_0": ("value", "none", lambda d: (STATUS, None, {})),
    "check_gnome_favorite_apps": ("value", "rules", lambda d: ("['a.desktop', 'b.desktop']",
                                                               {"expected": ["b.desktop", "a.desktop"]}, {})),
    "check_moved_jpgs": ("tree", "rules", lambda d: (FOLDER, {"expected": ["a.jpg"]}, {})),
}
