"""Small files of the kinds OSWorld's app metrics read (pictures, PDFs, archives, documents with images)."""

import zipfile
from pathlib import Path

import numpy as np
from docx import Document
from PIL import Image


def gradient(path: Path, size: tuple[int, int] = (64, 48), shift: int = 0, scale: float = 1.0) -> str:
    """An RGB picture with structure (gradients and a square), optionally shifted in brightness or scaled."""
    w, h = size
    x, y = np.meshgrid(np.arange(w), np.arange(h))
    pixels = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)], axis=-1).astype(np.float64)
    pixels[h // 4: h // 2, w // 4: w // 2] = 240
    pixels = np.clip(pixels * scale + shift, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


def write_pdf(path: Path, text: str) -> str:
    """A one-page PDF showing ``text`` in Helvetica, its xref offsets computed."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return str(path)


def zip_of(path: Path, files: dict[str, str], folder: str = "slides") -> str:
    """A zip archive holding ``files`` (name -> text) under ``folder``."""
    with zipfile.ZipFile(path, "w") as zipped:
        for inner, text in files.items():
            zipped.writestr(f"{folder}/{inner}", text)
    return str(path)


def docx_with_picture(path: Path, picture: str) -> str:
    document = Document()
    document.add_picture(picture)
    document.save(path)
    return str(path)
