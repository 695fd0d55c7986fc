"""PDF page counts and pictures, EPUB books and ZIP archives, on files the test writes."""

import zipfile
from pathlib import Path

from osworld_files import gradient, write_pdf
from PIL import Image

from step_envs.checkers import METRICS, Score


def score(name: str, result, expected=None, **options) -> Score:
    return METRICS[name](result, expected, **options)


def picture_pdf(path: Path, *pictures: str) -> str:
    """A PDF with one page per picture (PIL embeds each)."""
    images = [Image.open(picture).convert("RGB") for picture in pictures]
    images[0].save(path, save_all=True, append_images=images[1:])
    return str(path)


def test_check_pdf_pages_counts_pages(tmp_path):
    one = write_pdf(tmp_path / "one.pdf", "Totals")
    assert score("check_pdf_pages", one, {"relation": "eq", "ref_value": 1}) == Score(1.0, "1 pages")
    two = picture_pdf(tmp_path / "two.pdf", gradient(tmp_path / "a.png"), gradient(tmp_path / "b.png"))
    assert score("check_pdf_pages", two, {"relation": "eq", "ref_value": 1}).value == 0.0
    assert score("check_pdf_pages", two, {"relation": "gt", "ref_value": 1}).value == 1.0


def test_compare_pdf_images_hashes_the_embedded_pictures(tmp_path):
    receipt = gradient(tmp_path / "receipt.png", size=(128, 96))
    gold = picture_pdf(tmp_path / "gold.pdf", receipt)
    resized = tmp_path / "small.png"
    Image.open(receipt).resize((64, 48)).save(resized)
    assert score("compare_pdf_images", picture_pdf(tmp_path / "mine.pdf", str(resized)), gold) == Score(
        1.0, "1 of 1 pictures alike")
    other = tmp_path / "other.png"
    Image.open(receipt).transpose(Image.Transpose.ROTATE_90).save(other)
    assert score("compare_pdf_images", picture_pdf(tmp_path / "rot.pdf", str(other)), gold).value == 0.0
    assert score("compare_pdf_images", write_pdf(tmp_path / "text.pdf", "no picture"), gold) == Score(
        0.0, "0 pictures, the expected PDF has 1")


def epub(path: Path, chapter: str, identifier: str = "urn:uuid:1") -> str:
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip")
        book.writestr("content.opf", f'<package>\n<dc:identifier id="id">{identifier}</dc:identifier>\n'
                                     "<dc:title>Pass Through</dc:title>\n</package>\n")
        book.writestr("toc.ncx", f"<ncx>\n<navPoint id='{identifier}'>\n<text>Chapter 1</text>\n</ncx>\n")
        book.writestr("text/part0000.html", f"<html><body>\n<h1>Chapter 1</h1>\n<p>{chapter}</p>\n</body></html>")
    return str(path)


def test_compare_epub_ignores_identifiers_and_line_breaks(tmp_path):
    gold = epub(tmp_path / "gold.epub", "It rained all night.")
    assert score("compare_epub", epub(tmp_path / "mine.epub", "It rained all night.", "urn:uuid:2"), gold).value == 1
    changed = score("compare_epub", epub(tmp_path / "other.epub", "It was sunny."), gold)
    assert 0.5 < changed.value < 1.0
    (tmp_path / "plain.epub").write_text("not a zip")
    assert score("compare_epub", str(tmp_path / "plain.epub"), gold).value == 0.0


def test_compare_zip_files_compares_pdfs_by_text_and_others_by_bytes(tmp_path):
    def archive(name: str, essay: str, note: str) -> str:
        pdf = write_pdf(tmp_path / f"{name}.pdf", essay)
        with zipfile.ZipFile(tmp_path / f"{name}.zip", "w") as zipped:
            zipped.write(pdf, "essay.pdf")
            zipped.writestr("reminder.txt", note)
        return str(tmp_path / f"{name}.zip")

    gold = archive("gold", "Recruitment and retention of health professionals", "due Friday")
    assert score("compare_zip_files", archive("mine", "Recruitment and retention of health professionals",
                                              "due Friday"), gold) == Score(1.0, "all 2 files match")
    assert score("compare_zip_files", archive("note", "Recruitment and retention of health professionals",
                                              "due Monday"), gold) == Score(0.0, "reminder.txt differs")
    assert score("compare_zip_files", archive("essay", "A different essay", "due Friday"), gold).reason.startswith(
        "essay.pdf: text similarity")
