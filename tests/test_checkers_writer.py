"""Writer's one-purpose metrics on documents python-docx (and, for OpenDocument, LibreOffice) writes in the test."""

import shutil
import subprocess
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_COLOR_INDEX, WD_TAB_ALIGNMENT
from docx.shared import Inches, Pt, RGBColor

from step_envs.checkers import METRICS, Score
from step_envs.checkers.metrics.document_checks import ciede2000, highlighted_spans

LINES = ["Buy the ebook from the campus store", "Keep the receipt for your records"]


def score(name: str, result, expected=None, **options) -> Score:
    return METRICS[name](result, expected, **options)


def tabbed(path: Path, stop: float | None, words: int = 3) -> str:
    """Each line as its first ``words`` words, a tab, the rest; a right tab stop at ``stop`` inches."""
    document = docx.Document()
    for line in LINES:
        parts = line.split()
        paragraph = document.add_paragraph(" ".join(parts[:words]) + "\t" + " ".join(parts[words:]))
        if stop is not None:
            paragraph.paragraph_format.tab_stops.add_tab_stop(Inches(stop), WD_TAB_ALIGNMENT.RIGHT)
    document.save(path)
    return str(path)


def test_check_tabstops_scores_how_far_the_stops_are_from_the_gold_ones(tmp_path):
    gold = tabbed(tmp_path / "gold.docx", 6.0)
    options = {"word_number_split_by_tabstop": 3, "index": 0}
    assert score("check_tabstops", tabbed(tmp_path / "same.docx", 6.0), gold, **options).value == 1.0
    section = docx.Document(gold).sections[0]
    width = section.page_width - section.left_margin - section.right_margin
    near = score("check_tabstops", tabbed(tmp_path / "near.docx", 5.5), gold, **options)
    assert near.value == pytest.approx(1 - Inches(0.5) / width)
    assert score("check_tabstops", tabbed(tmp_path / "none.docx", None), gold).reason == (
        "paragraph 1: 0 tab stops != 1")
    assert score("check_tabstops", tabbed(tmp_path / "two.docx", 6.0, words=2), gold, **options).reason == (
        "'Buy the\\tebook from the campus store': 2 words before tab stop 1, not 3")


def test_ciede2000_matches_sharmas_published_pairs():
    assert ciede2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000((50, 2.5, 0), (73, 25, -18)) == pytest.approx(27.1492, abs=1e-4)
    assert ciede2000((2.0776, 0.0795, -1.135), (0.9033, -0.0636, -0.5514)) == pytest.approx(0.9082, abs=1e-4)


def word_table(path: Path, colours: dict[str, RGBColor | None]) -> str:
    document = docx.Document()
    document.add_paragraph("Dolch sight words")
    table = document.add_table(rows=1, cols=len(colours))
    for cell, (word, colour) in zip(table.rows[0].cells, colours.items(), strict=True):
        run = cell.paragraphs[0].add_run(word)
        if colour is not None:
            run.font.color.rgb = colour
    document.save(path)
    return str(path)


def test_colored_words_in_tables_wants_red_vowels_and_blue_consonants(tmp_path):
    red, blue = RGBColor(0xF5, 0x00, 0x00), RGBColor(0x00, 0x00, 0xFF)
    gold = word_table(tmp_path / "gold.docx", {"and": None, "big": None})
    assert score("evaluate_colored_words_in_tables", word_table(tmp_path / "ok.docx", {"and": red, "big": blue}),
                 gold).value == 1.0
    swapped = score("evaluate_colored_words_in_tables", word_table(tmp_path / "x.docx", {"and": blue, "big": red}),
                    gold)
    assert swapped == Score(0.0, "'and' is 0000FF, not red")
    plain = score("evaluate_colored_words_in_tables", word_table(tmp_path / "p.docx", {"and": None, "big": None}), gold)
    assert plain == Score(0.0, "'and' is uncoloured, not red")


def italic_document(path: Path, size: float | None) -> str:
    document = docx.Document()
    paragraph = document.add_paragraph("Read ")
    run = paragraph.add_run("Hamlet")
    run.italic = True
    if size is not None:
        run.font.size = Pt(size)
    paragraph.add_run(" twice.")
    document.save(path)
    return str(path)


def test_italic_font_size_14(tmp_path):
    gold = italic_document(tmp_path / "gold.docx", 14)
    assert score("check_italic_font_size_14", italic_document(tmp_path / "a.docx", 14), gold).value == 1.0
    assert score("check_italic_font_size_14", italic_document(tmp_path / "b.docx", 12), gold) == Score(
        0.0, "italic 'Hamlet' is 12.0 pt, not 14")


def test_find_default_font_reads_writers_default_font_setting(tmp_path):
    settings = tmp_path / "registrymodifications.xcu"
    settings.write_text('<?xml version="1.0" encoding="UTF-8"?><oor:items xmlns:oor="http://openoffice.org/2001/'
                        'registry"><item oor:path="/org.openoffice.Office.Writer/DefaultFont"><prop oor:name='
                        '"Standard" oor:op="fuse"><value>Times New Roman</value></prop></item></oor:items>')
    assert score("find_default_font", str(settings), {"font_name": "Times New Roman"}).value == 1.0
    assert score("find_default_font", str(settings), {"font_name": "Liberation Serif"}).value == 0.0


def paragraphs(path: Path, *texts: str) -> str:
    document = docx.Document()
    for text in texts:
        document.add_paragraph(text)
    document.save(path)
    return str(path)


def test_compare_references_scores_the_reference_list_over_a_base(tmp_path):
    gold = paragraphs(tmp_path / "gold.docx", "Case study", "References", "Smith, J. (2020). Care. Lancet.",
                      "", "Lee, K. (2019). Staff. BMJ.")
    same = paragraphs(tmp_path / "same.docx", "Case study!", "References", "Smith, J. (2020). Care. Lancet.",
                      "Lee, K. (2019). Staff. BMJ.")
    assert score("compare_references", same, gold, reference_base_result=0.6).value == 1.0
    sloppy = paragraphs(tmp_path / "sloppy.docx", "References", "Smith J 2020 Care", "Lee K 2019 Staff")
    assert 0.0 < score("compare_references", sloppy, gold, reference_base_result=0.6).value < 0.5
    other = paragraphs(tmp_path / "other.docx", "References", "WHO report", "OECD data")
    assert score("compare_references", other, gold, reference_base_result=0.6).value == 0.0
    assert score("compare_references", paragraphs(tmp_path / "none.docx", "Case study"), gold).reason == (
        "only the expected has a 'References' heading")


def test_compare_docx_files_and_ignore_new_lines(tmp_path):
    gold = paragraphs(tmp_path / "gold.docx", "Gemini answer one", "Gemini answer two")
    spaced = paragraphs(tmp_path / "spaced.docx", "Gemini answer one", "", "Gemini answer two")
    joined = paragraphs(tmp_path / "joined.docx", "Gemini answer one Gemini answer two")
    assert score("compare_docx_files_and_ignore_new_lines", spaced, gold, ignore_blanks=False).value == 1.0
    assert score("compare_docx_files_and_ignore_new_lines", joined, gold).value == 1.0
    assert score("compare_docx_files_and_ignore_new_lines", joined, gold, ignore_blanks=False).value == 0.0


def test_compare_unique_train_records_keeps_one_line_per_train(tmp_path):
    original = paragraphs(tmp_path / "orig.docx", "06:00:01, T1, S1, 1", "06:05:00, T2, S2, 2",
                          "06:10:00, T1, S3, 1")
    gold = paragraphs(tmp_path / "gold.docx", "06:00:01, T1, S1, 1", "06:05:00, T2, S2, 2")
    expected = [gold, original]
    assert score("compare_unique_train_records", paragraphs(tmp_path / "a.docx", "06:05:00, T2, S2, 2",
                                                           "06:10:00, T1, S3, 1"), expected).value == 1.0
    assert score("compare_unique_train_records", original, expected).reason == "repeated train ids: ['T1']"
    assert score("compare_unique_train_records", paragraphs(tmp_path / "b.docx", "06:00:01, T9, S1, 1"),
                 expected).reason == "lines not in the original: ['06:00:01, T9, S1, 1']"


@pytest.mark.skipif(shutil.which("soffice") is None, reason="needs LibreOffice (soffice)")
def test_check_highlighted_words_reads_libreoffices_highlighting(tmp_path):
    def odt(name: str, highlight: bool) -> str:
        document = docx.Document()
        paragraph = document.add_paragraph("Call the ")
        run = paragraph.add_run("participant")
        if highlight:
            run.font.highlight_color = WD_COLOR_INDEX.YELLOW
        paragraph.add_run(" today.")
        document.save(tmp_path / f"{name}.docx")
        subprocess.run(["nice", "-n", "19", "soffice", f"-env:UserInstallation={(tmp_path / 'p').as_uri()}",
                        "--headless", "--convert-to", "odt", "--outdir", str(tmp_path), str(tmp_path / f"{name}.docx")],
                       check=True, capture_output=True, timeout=120)
        return str(tmp_path / f"{name}.odt")

    marked, clean = odt("marked", True), odt("clean", False)
    assert highlighted_spans(marked) == ["participant"]
    assert score("check_highlighted_words", clean, clean).value == 1.0
    assert score("check_highlighted_words", marked, clean) == Score(0.0, "still highlighted: ['participant']")
