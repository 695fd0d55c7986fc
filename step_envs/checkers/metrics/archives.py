"""Metrics on PDFs and packaged files, with the rules of OSWorld's ``pdf.py``, ``chrome.py``, ``vscode.py``
and ``others.py``: a PDF's text, page count and pictures, EPUB books, ZIP archives, any archive's files compared by
another metric.
"""

from __future__ import annotations

import difflib
import operator
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import lxml.html
import numpy as np
from pypdf import PdfReader

from step_envs.checkers.metrics.media import phash
from step_envs.checkers.metrics.scoring import rules_of, similarity, verdict
from step_envs.checkers.registry import NO_RESULT, Score, get_metric, metric, short

_RELATIONS = ("eq", "ne", "lt", "le", "gt", "ge")


@metric("check_pdf_pages")
def check_pdf_pages(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when the PDF's page count stands in ``rules["relation"]`` (eq, ne, lt, le, gt, ge) to
    ``rules["ref_value"]``."""
    rules = rules_of(rules, "{'relation': 'eq', 'ref_value': n}")
    relation, wanted = rules.get("relation"), rules.get("ref_value")
    if relation not in _RELATIONS:
        raise ValueError(f"rules['relation'] is {relation!r}; use one of {_RELATIONS}")
    if result is None:
        return NO_RESULT
    pages = len(PdfReader(result).pages)
    return verdict(getattr(operator, relation)(pages, wanted), f"{pages} pages", f"{pages} pages, not {relation} "
                   f"{wanted}")


HASH_BITS_APART = 5
"""Perceptual hashes at most this many bits apart show the same picture (OSWorld's threshold)."""


def pdf_pictures(path: str) -> list[np.ndarray]:
    """The perceptual hashes (:func:`~step_envs.checkers.metrics.media.phash`) of every picture embedded in a PDF,
    page by page."""
    return [phash(picture.image) for page in PdfReader(path).pages for picture in page.images
            if picture.image is not None]


@metric("compare_pdf_images")
def compare_pdf_images(result: str | None, expected: str | None, **options: Any) -> Score:
    """The share of the result's embedded pictures whose perceptual hash is within :data:`HASH_BITS_APART` bits of
    the expected PDF's picture at the same place; 0 when the counts differ, 1 when neither has a picture."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = pdf_pictures(result), pdf_pictures(expected)
    if len(got) != len(want):
        return Score(0.0, f"{len(got)} pictures, the expected PDF has {len(want)}")
    if not got:
        return Score(1.0, "neither PDF holds a picture")
    alike = sum(int(np.count_nonzero(a != b)) <= HASH_BITS_APART for a, b in zip(got, want, strict=True))
    return Score(alike / len(got), f"{alike} of {len(got)} pictures alike")


def epub_parts(path: str) -> list[tuple[str, list[str]]]:
    """The parts of an EPUB that OSWorld compares, sorted by name, each as lines: ``toc.ncx`` without its
    ``navPoint`` lines, ``content.opf`` without its ``dc:identifier`` lines (both at the archive's root), and every
    ``.html`` file re-printed by lxml after its line breaks are removed. Not a ZIP file: no parts."""
    try:
        book = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        return []
    parts = []
    with book:
        for name in sorted(book.namelist()):
            text = book.read(name).decode("utf-8", errors="replace")
            if name in ("toc.ncx", "content.opf"):
                skip = "navPoint" if name == "toc.ncx" else "dc:identifier"
                parts.append((name, [line for line in text.splitlines() if skip not in line]))
            elif name.endswith(".html"):
                page = lxml.html.fromstring(text.replace("\n", "").replace("\r", "").encode())
                parts.append((name, lxml.html.tostring(page, pretty_print=True, encoding="unicode").splitlines()))
    return parts


@metric("compare_epub")
def compare_epub(result: str | None, expected: str | None, **options: Any) -> Score:
    """The mean, over the result's parts (:func:`epub_parts`) paired in name order with the expected book's, of
    their line similarity 2 M / T."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = epub_parts(result), epub_parts(expected)
    if not got:
        return Score(0.0, f"{Path(result).name} has no book parts (not an EPUB?)")
    ratios = [difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
              for (_, a), (_, b) in zip(got, want, strict=False)]
    value = sum(ratios) / len(got)
    return Score(value, f"{len(got)} parts, {len(want)} expected, mean line similarity {value:.3f}")


PDF_TEXT_ALIKE = 0.95


@metric("compare_zip_files")
def compare_zip_files(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when both archives hold the same file names and every file is equal: PDFs by text (similarity 2 M / T at
    least :data:`PDF_TEXT_ALIKE`), other files byte for byte."""
    if result is None or expected is None:
        return NO_RESULT
    with zipfile.ZipFile(result) as got, zipfile.ZipFile(expected) as want, tempfile.TemporaryDirectory() as folder:
        names, wanted = set(got.namelist()), set(want.namelist())
        if names != wanted:
            return Score(0.0, f"files {short(sorted(names ^ wanted))} are in only one archive")
        for name in sorted(names):
            mine, theirs = got.read(name), want.read(name)
            if name.lower().endswith(".pdf"):
                texts = []
                for side, data in (("result", mine), ("expected", theirs)):
                    (Path(folder) / side).write_bytes(data)
                    texts.append(pdf_text(str(Path(folder) / side)))
                ratio = difflib.SequenceMatcher(None, texts[0], texts[1]).ratio()
                if ratio < PDF_TEXT_ALIKE:
                    return Score(0.0, f"{name}: text similarity {ratio:.3f} < {PDF_TEXT_ALIKE}")
            elif mine != theirs:
                return Score(0.0, f"{name} differs")
    return Score(1.0, f"all {len(names)} files match")


def pdf_text(path: str) -> str:
    """The text of every page of a PDF, joined, stripped (pypdf's extraction; OSWorld uses PyMuPDF's)."""
    from pypdf import PdfReader

    return "".join(page.extract_text() or "" for page in PdfReader(path).pages).strip()


@metric("compare_pdfs")
def compare_pdfs(result: Any, expected: Any, **options: Any) -> Score:
    """Mean over the file pairs of the similarity (2 M / T) of their text; a pair that cannot be read scores 0."""
    pairs = list(zip(result, expected, strict=True)) if isinstance(expected, list) else [(result, expected)]
    if result is None or not pairs:
        return NO_RESULT
    scores, reasons = [], []
    for got, want in pairs:
        try:
            scores.append(similarity(pdf_text(got), pdf_text(want)))
        except Exception as exc:
            scores.append(0.0)
            reasons.append(f"{short(got)}: {type(exc).__name__}: {exc}")
    value = sum(scores) / len(pairs)
    return Score(value, f"text similarity {value:.3f}" + (f" ({'; '.join(reasons)})" if reasons else ""))


ARCHIVE_FILE_TYPES = {"text": "compare_text_file", "pdf": "compare_pdfs", "docx": "compare_docx_files",
                      "ppt": "compare_pptx_files", "image": "compare_images", "csv": "compare_csv",
                      "table": "compare_table", "audio": "compare_audios", "video": "compare_videos"}
"""``compare_archive``'s ``file_type`` -> the metric comparing the archives' files."""


def _archive_options(options: dict[str, Any]) -> list[str]:
    kind = options.get("file_type", "text")
    if kind not in ARCHIVE_FILE_TYPES:
        return [f"file_type {kind!r} unknown; use one of {', '.join(ARCHIVE_FILE_TYPES)}"]
    return []


@metric("compare_archive", check_options=_archive_options)
def compare_archive(result: str | None, expected: str | None, file_path: str = "", file_type: str = "text",
                    **options: Any) -> Score:
    """Unpack both archives (zip, tar...); 1 only when the folder ``file_path`` inside them lists the same names,
    then the mean of ``file_type``'s metric (see ``ARCHIVE_FILE_TYPES``, given the other options) over the files."""
    if result is None:
        return NO_RESULT
    if file_type not in ARCHIVE_FILE_TYPES:
        raise ValueError(_archive_options({"file_type": file_type})[0])
    compare = get_metric(ARCHIVE_FILE_TYPES[file_type])
    with tempfile.TemporaryDirectory(prefix="step-gym-archive-") as scratch:
        roots = []
        for name, archive in (("result", result), ("expected", expected)):
            root = Path(scratch) / name
            shutil.unpack_archive(str(archive), root)
            roots.append(root / file_path)
        names = [sorted(path.name for path in root.iterdir()) if root.is_dir() else [] for root in roots]
        if names[0] != names[1]:
            return Score(0.0, f"the archive holds {short(names[0], 160)}, expected {short(names[1], 160)}")
        if not names[0]:
            return Score(0.0, f"no files under {file_path or 'the top'} of the archives")
        total = 0.0
        for name in names[0]:
            raw = compare(str(roots[0] / name), str(roots[1] / name), **options)
            total += raw.value if isinstance(raw, Score) else float(raw)
    value = total / len(names[0])
    return Score(value, f"{len(names[0])} {file_type} files, mean {value:.3f}")
