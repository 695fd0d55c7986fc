"""Our own stand-ins for the files some OSWorld tasks download, so those tasks run offline.

OSWorld's tasks fetch their input files from Google Drive at setup. For the tasks listed in :data:`MADE` the file is
made here instead: each is **our own stand-in for OSWorld's file** (a picture drawn with PIL, a sound or video
encoded by FFmpeg, a document written with python-docx / python-pptx / openpyxl, a PDF, a zip, a script), written
from the task's instruction, never downloaded from or copied off OSWorld. That keeps the task's meaning because the
task's checker compares the result against **rules** (a cell's value, a setting, a file's name, a slide's
orientation) or against **the input itself** (GIMP's "make it darker" compares the export with the picture it
started from); tasks whose checker compares with a reference ("gold") file that only OSWorld has are not made.
Where a rule names a value the input determines (the total of the hours in a sheet, the lines of the PHP files a
setup script writes), the stand-in is made so that the rule's value is the right answer for it.

Every file is made deterministically (fixed seeds, fixed zip and document dates, FFmpeg's bit-exact mode), laid out
``<out_dir>/<domain>/<task id>/<file name>``: the name the task saves the download as, which is where
``load_osworld(..., file_cache=out_dir)`` looks for a download whose URL names no file (Google Drive's
``/uc?id=...``). ``step-envs tasks audit-osworld DIR --out OUT --made-files`` builds the mirror into
``OUT/made-files`` and runs the tasks with it. Files that need FFmpeg are skipped (their tasks still need the
network) where it is not installed.

Some downloads are more than an input. Five ``os``/``multi_apps`` tasks download an ``eval.sh`` that prints the
line the task's rule looks for: the stand-in is our own script that checks what the instruction asks, and these
tasks are listed in :data:`CHECK_SCRIPTS`. multi_apps 6f4073b8 downloads a "gold" workbook after the episode that
its checker never reads (it compares with its rule): the stand-in is the table filled in from the public record.
Tasks not made (and why) are listed in :data:`NOT_MADE`.
"""

from __future__ import annotations

import io
import math
import re
import shutil
import struct
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FIXED_DATE = (2024, 1, 1, 0, 0, 0)
"""The date every zip entry and every document's creation/modification date carries."""
FIXED_ISO = "2024-01-01T00:00:00Z"


# ----------------------------------------------------------------------------------------------------------------
# building blocks


def _zip(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip of ``(name, data)`` entries (a name ending in ``/`` is a folder), dated :data:`FIXED_DATE`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.compress_type = zipfile.ZIP_STORED if name.endswith("/") else zipfile.ZIP_DEFLATED
            info.external_attr = (0o40755 << 16 | 0x10) if name.endswith("/") else 0o100644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _ooxml(save: Callable[[io.BytesIO], None]) -> bytes:
    """An Office Open XML file (docx, xlsx, pptx) saved by ``save``, rewritten with fixed dates: its zip entries'
    and its ``docProps/core.xml`` creation and modification dates (python-docx, python-pptx and openpyxl stamp the
    time of saving)."""
    buffer = io.BytesIO()
    save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    fixed = []
    for name, data in entries:
        if name == "docProps/core.xml":
            data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>" + FIXED_ISO.encode() + rb"\2",
                          data)
        fixed.append((name, data))
    return _zip(fixed)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's own scalable font (the same on every machine with this Pillow)."""
    return ImageFont.load_default(size=size)


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    width, height = size
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    rows = np.asarray(top, np.float64) * (1 - t) + np.asarray(bottom, np.float64) * t
    return Image.fromarray(np.repeat(rows, width, axis=1).round().astype(np.uint8), "RGB")


def _grain(image: Image.Image, seed: int, amount: float = 6.0) -> Image.Image:
    """The picture with a little photographic noise (fixed seed) and a slight blur, so it reads as a photo."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image.convert("RGB"), np.float64)
    pixels = pixels + rng.normal(0.0, amount, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))


def _encode(image: Image.Image, kind: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    return _encode(image, "PNG", optimize=False, compress_level=6)


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    return _encode(image.convert("RGB"), "JPEG", quality=quality)


# ---- pictures: simple scenes drawn with shapes, different for every task, none of them symmetric


def _tree_scene(seed: int, size: tuple[int, int] = (960, 640), muted: float = 1.0) -> Image.Image:
    """A person sitting under a tree in a meadow (``muted`` < 1 washes the colours out)."""
    width, height = size
    image = _gradient(size, (120, 170, 215), (200, 225, 240))
    draw = ImageDraw.Draw(image)
    horizon = int(height * 0.62)
    draw.rectangle((0, horizon, width, height), fill=(96, 150, 70))
    draw.polygon([(0, horizon), (width * 0.35, horizon - 70), (width * 0.7, horizon - 20), (width, horizon - 90),
                  (width, horizon)], fill=(110, 140, 95))
    trunk = int(width * 0.3)
    draw.rectangle((trunk - 22, horizon - 150, trunk + 22, horizon + 60), fill=(100, 70, 45))
    for dx, dy, r in ((-90, -230, 110), (40, -260, 120), (-10, -330, 100), (110, -200, 90), (-150, -170, 80)):
        draw.ellipse((trunk + dx - r, horizon + dy - r, trunk + dx + r, horizon + dy + r), fill=(50, 110, 50))
    x, y = trunk + 70, horizon + 20
    draw.ellipse((x - 18, y - 95, x + 18, y - 59), fill=(230, 190, 160))
    draw.polygon([(x - 25, y - 60), (x + 25, y - 60), (x + 35, y), (x - 30, y)], fill=(200, 80, 90))
    draw.rectangle((x + 5, y - 12, x + 75, y + 6), fill=(60, 70, 120))
    draw.ellipse((width * 0.8 - 40, height * 0.12 - 40, width * 0.8 + 40, height * 0.12 + 40), fill=(250, 235, 170))
    image = _grain(image, seed)
    if muted != 1.0:
        grey = image.convert("L").convert("RGB")
        image = Image.blend(grey, image, muted)
    return image


def _dog_scene(seed: int, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A brown dog sitting on a lawn in front of a fence."""
    width, height = size
    image = _gradient(size, (170, 200, 230), (235, 240, 245))
    draw = ImageDraw.Draw(image)
    ground = int(height * 0.7)
    for x in range(0, width, 60):
        draw.rectangle((x + 10, ground - 160, x + 40, ground), fill=(225, 215, 195))
    draw.rectangle((0, ground - 130, width, ground - 115), fill=(210, 200, 180))
    draw.rectangle((0, ground, width, height), fill=(90, 160, 80))
    cx, cy = int(width * 0.45), int(height * 0.62)
    draw.ellipse((cx - 120, cy - 70, cx + 110, cy + 90), fill=(150, 95, 55))
    draw.ellipse((cx + 50, cy - 170, cx + 170, cy - 50), fill=(160, 105, 60))
    draw.ellipse((cx + 140, cy - 130, cx + 200, cy - 90), fill=(120, 75, 45))
    draw.polygon([(cx + 60, cy - 160), (cx + 40, cy - 80), (cx + 85, cy - 120)], fill=(100, 60, 35))
    draw.ellipse((cx + 110, cy - 140, cx + 126, cy - 124), fill=(20, 20, 20))
    draw.ellipse((cx + 188, cy - 118, cx + 204, cy - 104), fill=(15, 15, 15))
    for lx in (cx - 80, cx - 30, cx + 40, cx + 80):
        draw.rectangle((lx, cy + 60, lx + 26, cy + 130), fill=(140, 88, 50))
    draw.line((cx - 115, cy, cx - 190, cy - 70), fill=(140, 88, 50), width=16)
    return _grain(image, seed)


def _berries(seed: int, size: tuple[int, int] = (800, 600), soft: bool = False) -> Image.Image:
    """A cluster of berries and leaves on a wooden table (``soft``: flat light, low contrast)."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = _gradient(size, (180, 140, 100), (140, 100, 70))
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 45):
        draw.line((0, y, width, y + 8), fill=(120, 85, 55), width=3)
    for _ in range(6):
        x, y = rng.uniform(0.15, 0.6) * width, rng.uniform(0.2, 0.8) * height
        draw.ellipse((x - 90, y - 35, x + 90, y + 35), fill=(60, 120, 50))
    for _ in range(26):
        x, y = rng.uniform(0.1, 0.62) * width, rng.uniform(0.15, 0.85) * height
        r = rng.uniform(22, 40)
        tone = rng.uniform(0.6, 1.0)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(int(190 * tone), int(30 * tone), int(60 * tone)))
        draw.ellipse((x - r * 0.45, y - r * 0.6, x - r * 0.1, y - r * 0.25), fill=(240, 200, 210))
    draw.rectangle((int(width * 0.72), int(height * 0.3), int(width * 0.92), int(height * 0.75)), fill=(235, 235, 225))
    image = _grain(image, seed)
    if soft:
        pixels = np.asarray(image, np.float64)
        image = Image.fromarray((128 + (pixels - 128) * 0.55).round().astype(np.uint8))
    return image


def _computer(seed: int, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A desktop computer (screen, keyboard, mouse) on a desk."""
    width, height = size
    image = _gradient(size, (225, 220, 210), (200, 195, 185))
    draw = ImageDraw.Draw(image)
    desk = int(height * 0.72)
    draw.rectangle((0, desk, width, height), fill=(150, 110, 75))
    draw.rectangle((200, 110, 560, 360), fill=(40, 40, 45))
    screen = _gradient((330, 220), (40, 110, 190), (120, 190, 230))
    image.paste(screen, (215, 125))
    draw.rectangle((250, 160, 400, 240), fill=(245, 245, 245))
    draw.rectangle((250, 160, 400, 175), fill=(70, 70, 90))
    draw.rectangle((350, 360, 410, 420), fill=(70, 70, 75))
    draw.rectangle((300, 420, 460, 435), fill=(60, 60, 65))
    draw.polygon([(170, 470), (590, 470), (620, 520), (140, 520)], fill=(230, 230, 230))
    for row in range(3):
        for key in range(14):
            x = 175 + key * 30 + row * 8
            draw.rectangle((x, 476 + row * 14, x + 24, 486 + row * 14), fill=(200, 200, 205))
    draw.ellipse((650, 480, 700, 520), fill=(235, 235, 235))
    draw.rectangle((610, 250, 700, 430), fill=(60, 60, 65))
    draw.ellipse((640, 270, 670, 300), fill=(90, 200, 120))
    return _grain(image, seed, amount=3.0)


def _landscape(seed: int, size: tuple[int, int] = (1024, 683)) -> Image.Image:
    """A river winding through hills under an evening sky."""
    width, height = size
    image = _gradient(size, (245, 170, 120), (170, 190, 225))
    draw = ImageDraw.Draw(image)
    draw.polygon([(0, 330), (180, 220), (360, 300), (560, 190), (760, 290), (1024, 210), (1024, 683), (0, 683)],
                 fill=(90, 110, 120))
    draw.polygon([(0, 420), (300, 360), (600, 410), (1024, 350), (1024, 683), (0, 683)], fill=(70, 125, 70))
    draw.polygon([(480, 380), (540, 380), (470, 480), (640, 580), (560, 683), (330, 683), (450, 570), (360, 470)],
                 fill=(90, 150, 200))
    draw.ellipse((780, 90, 860, 170), fill=(255, 225, 160))
    return _grain(image, seed)


def _animal(seed: int, kind: str, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A squirrel on a branch, a panda in bamboo, or a heron at a pond, in simple shapes."""
    width, height = size
    draw_sky = {"squirrel": ((150, 190, 120), (90, 130, 70)), "panda": ((170, 210, 150), (110, 160, 90)),
                "heron": ((190, 215, 235), (120, 160, 190))}[kind]
    image = _gradient(size, *draw_sky)
    draw = ImageDraw.Draw(image)
    if kind == "squirrel":
        draw.line((0, 430, 800, 380), fill=(95, 65, 40), width=40)
        draw.ellipse((300, 260, 450, 420), fill=(170, 90, 40))
        draw.ellipse((410, 220, 500, 310), fill=(180, 100, 45))
        draw.ellipse((465, 250, 478, 263), fill=(10, 10, 10))
        draw.ellipse((160, 150, 330, 400), fill=(190, 110, 55))
        draw.polygon([(430, 225), (440, 185), (455, 225)], fill=(160, 85, 40))
    elif kind == "panda":
        for x in (80, 150, 620, 700):
            draw.rectangle((x, 0, x + 22, 600), fill=(120, 170, 60))
        draw.ellipse((260, 260, 520, 500), fill=(245, 245, 245))
        draw.ellipse((330, 150, 490, 300), fill=(250, 250, 250))
        for ex in (330, 450):
            draw.ellipse((ex - 20, 140, ex + 20, 180), fill=(20, 20, 20))
        draw.ellipse((360, 200, 395, 235), fill=(25, 25, 25))
        draw.ellipse((425, 200, 460, 235), fill=(25, 25, 25))
        draw.ellipse((240, 330, 330, 470), fill=(20, 20, 20))
        draw.ellipse((470, 330, 560, 470), fill=(20, 20, 20))
    else:
        draw.rectangle((0, 430, 800, 600), fill=(70, 120, 160))
        draw.line((420, 300, 410, 470), fill=(80, 80, 90), width=6)
        draw.line((440, 300, 455, 470), fill=(80, 80, 90), width=6)
        draw.ellipse((360, 200, 520, 320), fill=(160, 165, 180))
        draw.line((500, 230, 540, 110), fill=(170, 175, 190), width=18)
        draw.ellipse((520, 85, 570, 125), fill=(200, 205, 215))
        draw.polygon([(565, 100), (640, 110), (565, 115)], fill=(220, 180, 60))
    return _grain(image, seed)


def _gate(seed: int, size: tuple[int, int] = (900, 600)) -> Image.Image:
    """An old stone gate with an arch, trees beside it."""
    image = _gradient(size, (135, 185, 230), (210, 225, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 470, 900, 600), fill=(150, 140, 110))
    draw.rectangle((300, 160, 620, 470), fill=(165, 150, 130))
    draw.ellipse((370, 240, 550, 420), fill=(60, 50, 45))
    draw.rectangle((370, 330, 550, 470), fill=(60, 50, 45))
    draw.rectangle((280, 130, 640, 165), fill=(140, 120, 100))
    for x in (120, 760):
        draw.rectangle((x - 12, 330, x + 12, 470), fill=(90, 65, 40))
        draw.ellipse((x - 80, 200, x + 80, 360), fill=(60, 120, 60))
    return _grain(image, seed)


def _logo(size: tuple[int, int] = (512, 512)) -> Image.Image:
    """A round two-colour badge with the letters "SG"."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((32, 32, 480, 480), fill=(30, 90, 160, 255))
    draw.ellipse((70, 70, 442, 442), fill=(245, 180, 40, 255))
    draw.text((256, 256), "SG", font=_font(190), fill=(30, 90, 160, 255), anchor="mm")
    return image


def _poster(seed: int, size: tuple[int, int] = (600, 840)) -> Image.Image:
    """A party-night poster: dark sky, lights, a title and a date."""
    rng = np.random.default_rng(seed)
    image = _gradient(size, (30, 10, 60), (120, 20, 90))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y, r = rng.uniform(0, size[0]), rng.uniform(0, size[1] * 0.6), rng.uniform(4, 14)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(150, 256, 3)))
    draw.text((300, 520), "PARTY NIGHT", font=_font(72), fill=(255, 230, 120), anchor="mm")
    draw.text((300, 620), "Saturday 9 pm - late", font=_font(36), fill=(255, 255, 255), anchor="mm")
    draw.text((300, 680), "Rooftop Hall, 5th floor", font=_font(30), fill=(220, 220, 255), anchor="mm")
    return image


def _photo(seed: int, kind: str) -> Image.Image:
    """Holiday snapshots for the ``os`` photo task: a temple, a skyline, a group, a family, a conference hall."""
    rng = np.random.default_rng(seed)
    image = _gradient((640, 480), *[tuple(int(v) for v in rng.integers(60, 240, 3)) for _ in range(2)])
    draw = ImageDraw.Draw(image)
    if kind == "temple":
        draw.polygon([(320, 60), (420, 400), (220, 400)], fill=(200, 180, 140))
        draw.rectangle((150, 400, 490, 440), fill=(170, 150, 120))
    elif kind == "skyline":
        for i, h in enumerate((180, 260, 320, 220, 290, 150, 240)):
            draw.rectangle((40 + i * 80, 440 - h, 100 + i * 80, 440), fill=(70 + i * 12, 80, 110))
    elif kind in ("group", "family"):
        for i in range(5 if kind == "group" else 3):
            x = 120 + i * 100
            draw.ellipse((x - 25, 200, x + 25, 250), fill=(225, 185, 150))
            draw.rectangle((x - 35, 250, x + 35, 400), fill=tuple(int(v) for v in rng.integers(40, 220, 3)))
    else:
        draw.rectangle((60, 60, 580, 260), fill=(30, 60, 120))
        draw.text((320, 160), "EMNLP 2023", font=_font(48), fill=(255, 255, 255), anchor="mm")
        for i in range(8):
            draw.ellipse((60 + i * 70, 330, 100 + i * 70, 370), fill=(40, 40, 40))
    return _grain(image, seed)


# ---- GIMP's own format


def _xcf(size: tuple[int, int], layers: list[tuple[str, Image.Image, tuple[int, int]]]) -> bytes:
    """A GIMP image (XCF version 0, tiles uncompressed) of RGBA ``layers`` ``(name, picture, (x, y))``, the top
    layer first; GIMP 2.x opens it as it would its own file."""
    width, height = size
    out = bytearray(b"gimp xcf file\0")
    out += struct.pack(">III", width, height, 0)  # RGB image
    out += struct.pack(">IIB", 17, 1, 0)  # PROP_COMPRESSION: none
    out += struct.pack(">II", 0, 0)  # PROP_END
    table = len(out)
    out += bytes(4 * (len(layers) + 1)) + struct.pack(">I", 0)  # layer pointers, 0; no channels, 0
    for number, (name, picture, (x, y)) in enumerate(layers):
        picture = picture.convert("RGBA")
        struct.pack_into(">I", out, table + 4 * number, len(out))
        lw, lh = picture.size
        label = name.encode() + b"\0"
        out += struct.pack(">III", lw, lh, 1) + struct.pack(">I", len(label)) + label  # RGBA layer
        out += struct.pack(">III", 6, 4, 255)  # PROP_OPACITY
        out += struct.pack(">III", 8, 4, 1)  # PROP_VISIBLE
        out += struct.pack(">IIii", 15, 8, x, y)  # PROP_OFFSETS
        if number == 0:
            out += struct.pack(">II", 2, 0)  # PROP_ACTIVE_LAYER
        out += struct.pack(">II", 0, 0)  # PROP_END
        out += struct.pack(">II", len(out) + 8, 0)  # the hierarchy follows; no mask
        out += struct.pack(">III", lw, lh, 4)
        out += struct.pack(">II", len(out) + 8, 0)  # the one level follows
        out += struct.pack(">II", lw, lh)
        columns, rows = math.ceil(lw / 64), math.ceil(lh / 64)
        pointers = len(out)
        out += bytes(4 * (columns * rows + 1))
        for index in range(columns * rows):
            row, column = divmod(index, columns)
            struct.pack_into(">I", out, pointers + 4 * index, len(out))
            box = (column * 64, row * 64, min(lw, column * 64 + 64), min(lh, row * 64 + 64))
            out += picture.crop(box).tobytes()
    return bytes(out)


# ---- documents


def _pdf(pages: list[list[str]], title: str = "") -> bytes:
    """A text PDF (A4, Helvetica), one list of lines per page; ``title`` in its document information."""

    def text(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
               "/Encoding /WinAnsiEncoding >>"]
    kids = []
    for lines in pages:
        stream = ["BT", "/F1 12 Tf", "15 TL", "56 780 Td"]
        for index, line in enumerate(lines):
            size = 20 if index == 0 else 12
            stream += [f"/F1 {size} Tf", f"({text(line)}) Tj", "T*"] + (["T*"] if index == 0 else [])
        stream.append("ET")
        body = "\n".join(stream).encode("latin-1")
        objects.append(f"<< /Length {len(body)} >>\nstream\n{body.decode('latin-1')}\nendstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> "
                       f">> /Contents {len(objects)} 0 R >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    objects.append(f"<< /Title ({text(title)}) /Producer (step-envs made_files) >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\nstartxref\n{xref}\n"
            f"%%EOF\n").encode()
    return bytes(out)


def _docx(paragraphs: list[tuple[str, str]], font: str | None = None, size: int | None = None,
          footer: str | None = None) -> bytes:
    """A Word document of ``(style, text)`` paragraphs (style ``Title``, ``Heading 1``, ``Normal``, ...; text
    ``\\f`` alone is a page break); ``font``/``size`` set on every run."""
    from docx import Document
    from docx.enum.text import WD_BREAK
    from docx.shared import Pt

    document = Document()
    core = document.core_properties
    core.author, core.last_modified_by, core.title = "step-envs", "step-envs", paragraphs[0][1] if paragraphs else ""
    for style, words in paragraphs:
        if words == "\f":
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
            continue
        paragraph = document.add_paragraph(style=style)
        run = paragraph.add_run(words)
        if font:
            run.font.name = font
        if size:
            run.font.size = Pt(size)
    if footer is not None:
        document.sections[0].footer.paragraphs[0].text = footer
    return _ooxml(document.save)


def _pptx(slides: list[tuple[str, list[str]]], widescreen: bool = False,
          edit: Callable[[object], None] | None = None) -> bytes:
    """A presentation: a title slide, then title-and-content slides ``(title, bullet lines)``; ``edit`` changes
    the presentation object before it is saved."""
    from pptx import Presentation
    from pptx.util import Emu

    deck = Presentation()
    if widescreen:
        deck.slide_width, deck.slide_height = Emu(12192000), Emu(6858000)
    deck.core_properties.author = deck.core_properties.last_modified_by = "step-envs"
    for number, (title, lines) in enumerate(slides):
        slide = deck.slides.add_slide(deck.slide_layouts[0 if number == 0 else 1])
        slide.shapes.title.text = title
        body = slide.placeholders[1]
        body.text = lines[0] if lines else ""
        for line in lines[1:]:
            body.text_frame.add_paragraph().text = line
    if edit is not None:
        edit(deck)
    return _ooxml(deck.save)


def _xlsx(build: Callable[[object], None]) -> bytes:
    """A workbook that ``build`` fills in (it gets the workbook)."""
    from openpyxl import Workbook

    workbook = Workbook()
    build(workbook)
    return _ooxml(workbook.save)


# ---- sound and video (FFmpeg)


def _ffmpeg() -> str | None:
    return shutil.which("ffmpeg")


class MissingTool(RuntimeError):
    """A file needs a program that is not installed (FFmpeg)."""


def _encode_media(inputs: list[str], output_options: list[str], suffix: str) -> bytes:
    """FFmpeg's output (bit-exact, no metadata) for ``inputs`` (its input options) and ``output_options``."""
    ffmpeg = _ffmpeg()
    if ffmpeg is None:
        raise MissingTool("ffmpeg is not installed")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"out{suffix}"
        command = [ffmpeg, "-nostdin", "-v", "error", "-y", *inputs, "-map_metadata", "-1", "-fflags", "+bitexact",
                   "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-threads", "1", *output_options, str(out)]
        subprocess.run(command, check=True, capture_output=True, timeout=300)
        return out.read_bytes()


def _melody(seed: int, seconds: float, rate: int = 44100) -> np.ndarray:
    """A short tune on a pentatonic scale, looped to ``seconds`` (16-bit mono samples)."""
    rng = np.random.default_rng(seed)
    scale = [261.63, 293.66, 329.63, 392.0, 440.0, 523.25]
    notes = [scale[int(i)] for i in rng.integers(0, len(scale), 16)]
    beat = 0.3
    t = np.arange(int(beat * rate)) / rate
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-t * 3.0)
    phrase = np.concatenate([envelope * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t))
                             for f in notes])
    count = int(seconds * rate)
    samples = np.tile(phrase, count // len(phrase) + 1)[:count]
    return (samples / np.max(np.abs(samples)) * 0.6 * 32767).astype("<i2")


def _mp3(seed: int, seconds: float) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "tune.raw"
        raw.write_bytes(_melody(seed, seconds).tobytes())
        return _encode_media(["-f", "s16le", "-ar", "44100", "-ac", "1", "-i", str(raw)],
                             ["-c:a", "libmp3lame", "-b:a", "96k", "-id3v2_version", "0", "-write_xing", "0"],
                             ".mp3")


def _mp4(seed: int, seconds: float, size: str = "480x270") -> bytes:
    """A video of FFmpeg's moving test picture (MPEG-4, 15 frames a second) with a tune under it."""
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "tune.raw"
        raw.write_bytes(_melody(seed, seconds).tobytes())
        return _encode_media(["-f", "lavfi", "-i", f"testsrc=size={size}:rate=15:duration={seconds}",
                              "-f", "s16le", "-ar", "44100", "-ac", "1", "-i", str(raw)],
                             ["-c:v", "mpeg4", "-q:v", "10", "-g", "60", "-pix_fmt", "yuv420p", "-c:a",
                              "libmp3lame", "-b:a", "64k", "-shortest"], ".mp4")


# ----------------------------------------------------------------------------------------------------------------
# the tasks' files


Maker = Callable[[], bytes]
MADE: dict[str, dict[str, Maker]] = {}
"""``"<domain>/<task id>"`` -> the file names its downloads are saved as -> the function that makes the file."""
CHECK_SCRIPTS: dict[str, str] = {}
"""``"<domain>/<task id>"`` -> why a file made for it is a check, not an input (see the module docstring)."""
NEEDS_FFMPEG: set[str] = set()
"""Tasks with a file that FFmpeg makes."""
NOT_MADE: dict[str, str] = {
    "gimp/2a729ded-3296-423d-aec4-7dd55ed5fbb3": "the checker compares with OSWorld's cut-out (dog_cutout_gold.png)",
    "gimp/d16c99dc-2a1e-46f2-b350-d97c86c85c15": "the checker compares the export with dog_with_background.png, "
                                                 "OSWorld's picture of the resized layer",
    "libreoffice_calc/4e6fcf72-daf3-439f-a232-c434ce416af6": "the checker compares with OSWorld's gold workbook",
    "multi_apps/e8172110-ec08-421b-a6f5-842e6451911f": "the checker compares with OSWorld's gold cut-out",
    "multi_apps/ce2b64a2-ddc1-4f91-8c7d-a88be7121aac": "the task is to recognise real mountains in real photos",
    "multi_apps/36037439-2044-4b50-b9d1-875b5a332143": "the answer is a live web page (Google Scholar)",
    "multi_apps/48c46dc7-fe04-4505-ade7-723cba1aa6f6": "the answer is live web pages (GitHub, Python's docs)",
    "multi_apps/a82b78bb-7fde-4cb3-94a4-035baf10bcf0": "the answer is live web pages (the authors' homepages)",
    "multi_apps/873cafdd-a581-47f6-8b33-b9696ddb7b05": "installs extensions from the Chrome Web Store",
    "multi_apps/42f4d1c7-4521-4161-b646-0a8934e36081": "installs a VS Code extension from its marketplace",
    "multi_apps/510f64c8-9bcc-4be1-8d30-638705850618": "needs OSWorld's own VS Code extension (its code)",
    "multi_apps/7ff48d5b-2df2-49da-b500-a5150ffc7f18": "the answer is found on live web pages (Shenzhen's offices)",
    "multi_apps/869de13e-bef9-4b91-ba51-f6708c40b096": "needs a legacy binary PowerPoint file (.ppt) and many "
                                                       "papers' PDFs",
    "multi_apps/f5c13cdd-205c-4719-a562-348ae5cd1d91": "needs OSWorld's Thunderbird profile",
    "vlc/bba3381f-b5eb-4439-bd9e-80c22218d5a7": "streams a YouTube video",
    "os/37887e8c-da15-4192-923c-08fa390a176d": "its check (eval.sh) would have to decide what 'last modified 30 days "
                                               "ago' means (on that day, or before it)",
    **{f"thunderbird/{task_id}": "needs OSWorld's Thunderbird profile (its accounts, mail store and search "
                                 "database, which the checks read by path and folder number)" for task_id in (
        "030eeff7-b492-4218-b312-701ec99ee0cc", "06fe7178-4491-4589-810f-2e2bc9502122",
        "12086550-11c0-466b-b367-1d9e75b3910e", "2ad9387a-65d8-4e33-ad5b-7580065a27ca",
        "35253b65-1c19-4304-8aa4-6884b8218fc0", "3d1682a7-0fb0-49ae-a4dc-a73afd2d06d5",
        "480bcfea-d68f-4aaa-a0a9-2589ef319381", "6766f2b8-8a72-417f-a9e5-56fcaa735837",
        "7b6c7e24-c58a-49fc-a5bb-d57b80e5b4c3", "94760984-3ff5-41ee-8347-cf1af709fea0",
        "99146c54-4f37-4ab8-9327-5f3291665e1e", "bb5e4c0d-f964-439c-97b6-bdb9747de3f4",
        "c9e7eaf2-b1a1-4efc-a982-721972fa9f02", "d088f539-cab4-4f9a-ac92-9999fc3a656e",
        "e1e75309-3ddb-4d09-92ec-de869c928143")},
}
"""Tasks whose only network needs are downloads but which are not made here, and why."""


def _made(key: str, **files: Maker) -> None:
    MADE[key] = files


# ---- gimp

_made("gimp/045bf3ff-9077-4b86-b483-a1040a949cff", **{"gate.jpeg": lambda: _jpeg(_gate(11))})
_made("gimp/2e6f678f-472d-4c55-99cc-8e7c5c402a71", **{
    "squirrel.jpeg": lambda: _jpeg(_animal(21, "squirrel")), "panda.jpeg": lambda: _jpeg(_animal(22, "panda")),
    "heron.jpeg": lambda: _jpeg(_animal(23, "heron"))})
_made("gimp/38f48d40-764e-4e77-a7cf-51dfce880291", **{"fullvideo.mp4": lambda: _mp4(31, 8)})
_made("gimp/58d3eeeb-e9d0-499f-962e-fd0db2a744d8", **{"heron.jpeg": lambda: _jpeg(_animal(23, "heron"))})
_made("gimp/62f7fd55-0687-4a43-b6e1-3eda16fc6252", **{"logo.png": lambda: _png(_logo())})
_made("gimp/8ea73f6f-9689-42ad-8c60-195bbf06a7ba", **{
    "low_resolution.jpeg": lambda: _jpeg(_landscape(81).resize((200, 133), Image.Resampling.BILINEAR), 70)})
_made("gimp/dbbf4b99-2253-4b10-9274-45f246af2466", **{
    "yicun.raw": lambda: _tree_scene(91, (640, 480)).tobytes()})  # headerless 8-bit RGB, 640x480
_made("gimp/06ca5602-62ca-47f6-ad4f-da151cde54cc", **{"computer.png": lambda: _png(_computer(61))})
_made("gimp/554785e9-4523-4e7a-b8e1-8016f565f56a", **{
    "woman_sitting_by_the_tree2.png": lambda: _png(_tree_scene(55, muted=0.45))})
_made("gimp/72f83cdc-bf76-4531-9a1b-eb893a13f8aa", **{"berry.png": lambda: _png(_berries(72))})
_made("gimp/77b8ab4d-994f-43ac-8930-8ca087d7c4b4", **{"The_Lost_River_Of_Dreams.jpg": lambda: _jpeg(_landscape(77))})
_made("gimp/7a4deb26-d57d-4ea9-9a73-630f66a7b568", **{
    "woman_sitting_by_the_tree.png": lambda: _png(_tree_scene(74))})
_made("gimp/a746add2-cab0-4740-ac36-c3769d9bfb46", **{"dog_with_background.png": lambda: _png(_dog_scene(27))})
_made("gimp/f723c744-e62c-4ae6-98d1-750d3cd7d79d", **{"berries.png": lambda: _png(_berries(73, soft=True))})


def _object_on_white() -> tuple[Image.Image, Image.Image]:
    """A black vase (no anti-aliasing: pure black) on a transparent layer, and a white background layer."""
    shape = Image.new("RGBA", (640, 480), (0, 0, 0, 0))
    draw = ImageDraw.Draw(shape)
    draw.ellipse((220, 170, 420, 400), fill=(0, 0, 0, 255))
    draw.rectangle((280, 90, 360, 200), fill=(0, 0, 0, 255))
    draw.rectangle((260, 80, 380, 100), fill=(0, 0, 0, 255))
    draw.rectangle((390, 250, 470, 270), fill=(0, 0, 0, 255))
    return shape, Image.new("RGBA", (640, 480), (255, 255, 255, 255))


def _white_with_object_png() -> bytes:
    shape, white = _object_on_white()
    return _png(Image.alpha_composite(white, shape).convert("RGB"))


def _white_with_object_xcf() -> bytes:
    shape, white = _object_on_white()
    return _xcf((640, 480), [("Object", shape, (0, 0)), ("Background", white, (0, 0))])


_made("gimp/734d6579-c07d-47a8-9ae2-13339795476b", **{
    "white_background_with_object.xcf": _white_with_object_xcf,
    "white_background_with_object.png": _white_with_object_png})
_made("gimp/b148e375-fe0b-4bec-90e7-38632b0d73c2", **{
    "white_background.xcf": lambda: _xcf((800, 600), [("Background", Image.new("RGBA", (800, 600), "white"),
                                                        (0, 0))])})


def _orange_with_text() -> bytes:
    """An orange background layer and, above it, a layer of black text in the middle of the right half."""
    text = Image.new("RGBA", (360, 90), (0, 0, 0, 0))
    ImageDraw.Draw(text).text((180, 45), "Summer Sale", font=_font(56), fill=(0, 0, 0, 255), anchor="mm")
    background = Image.new("RGBA", (900, 600), (250, 150, 40, 255))
    return _xcf((900, 600), [("Summer Sale", text, (470, 255)), ("Background", background, (0, 0))])


_made("gimp/e2dd0213-26db-4349-abe5-d5667bfd725c", **{"orange_background.xcf": _orange_with_text})


def _triangle_layers() -> tuple[Image.Image, Image.Image]:
    """A yellow triangle (pure colour) on its own layer near the left edge, over a plain blue background."""
    triangle = Image.new("RGBA", (160, 140), (0, 0, 0, 0))
    ImageDraw.Draw(triangle).polygon([(80, 0), (159, 139), (0, 139)], fill=(255, 220, 0, 255))
    return triangle, Image.new("RGBA", (800, 600), (60, 110, 190, 255))


def _triangle_png() -> bytes:
    triangle, background = _triangle_layers()
    background.alpha_composite(triangle, (60, 120))
    return _png(background.convert("RGB"))


def _triangle_xcf() -> bytes:
    triangle, background = _triangle_layers()
    return _xcf((800, 600), [("Triangle", triangle, (60, 120)), ("Background", background, (0, 0))])


_made("gimp/f4aec372-4fb0-4df5-a52b-79e0e2a5d6ce", **{
    "Triangle_On_The_Side.png": _triangle_png, "Triangle_On_The_Side.xcf": _triangle_xcf})


# ---- libreoffice_calc


def _hours_sheet(workbook: object) -> None:
    """A week's hours (times of day) summed to a total, an hourly rate, and the product that comes out wrong: the
    total is a time, a fraction of a day (38:20 is 1.597), so E1*E2 is not 38 1/3 hours times 5."""
    from datetime import time

    sheet = workbook.active
    sheet.title = "Sheet1"
    sheet.append(["Day", "Hours", None, "Total hours", "=SUM(B2:B6)"])
    sheet.append(["Monday", time(7, 30), None, "Hourly rate", 5])
    sheet.append(["Tuesday", time(8, 15), None, "Total earned", "=E1*E2"])
    sheet.append(["Wednesday", time(6, 45)])
    sheet.append(["Thursday", time(8, 10)])
    sheet.append(["Friday", time(7, 40)])
    for row in range(2, 7):
        sheet.cell(row, 2).number_format = "h:mm"
    sheet["E1"].number_format = "[h]:mm"
    sheet.column_dimensions["A"].width = 12
    sheet.column_dimensions["D"].width = 14


_made("libreoffice_calc/357ef137-7eeb-4c80-a3bb-0951f26a8aff", **{
    "Multiply_Time_Number.xlsx": lambda: _xlsx(_hours_sheet)})


def _wide_sheet(workbook: object) -> None:
    """A year of sales by region and month with long labels: wider and longer than one printed page."""
    rng = np.random.default_rng(88)
    sheet = workbook.active
    sheet.title = "Sales"
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December"]
    sheet.append(["Region / store", *[f"{month} sales (units)" for month in months], "Year total"])
    for number in range(1, 71):
        values = [int(v) for v in rng.integers(120, 2400, 12)]
        sheet.append([f"Store {number:02d} - district {1 + number % 7}", *values, sum(values)])
    for column in range(1, 15):
        sheet.column_dimensions[sheet.cell(1, column).column_letter].width = 24


_made("libreoffice_calc/aa3a8974-2e85-438b-b29e-a64df44deb4b", **{
    "Resize_Cells_Fit_Page.xlsx": lambda: _xlsx(_wide_sheet)})


# ---- libreoffice_impress

_made("libreoffice_impress/0f84bef9-9790-432e-92b7-eece357603fb", **{
    "multimedia_classroom_podium-2020.pptx": lambda: _pptx([
        ("Multimedia Classroom Podium", ["Quick guide, 2020 edition"]),
        ("Turning the podium on", ["Press the power button on the touch panel", "Wait for the projector to warm up",
                                   "Log in to the podium computer"]),
        ("Showing your laptop", ["Connect the HDMI cable", "Choose 'Laptop' on the touch panel",
                                 "Use 'Mirror displays' on your laptop"]),
        ("When you are done", ["Log out of the podium computer", "Press 'System off'"])])})
_made("libreoffice_impress/21760ecb-8f62-40d2-8d85-0cee5725cb72", **{
    "Ch4 Video Effect.pptx": lambda: _pptx([
        ("Chapter 4: Video Effects", ["Transitions, filters and titles"]),
        ("Transitions", ["Cuts, fades and wipes", "Use them to show a change of time or place"]),
        ("Filters", ["Colour correction", "Blur and sharpen", "Stylised looks"]),
        ("Titles", ["Opening titles", "Lower thirds", "Credits"])])})


def _gradient_background(deck: object) -> None:
    """A pale grey-to-blue gradient behind every slide (the master's): a plain colour, white say, would already
    count part of the way to the blue the task asks for (its checker scores the colour's distance to blue)."""
    from pptx.dml.color import RGBColor

    fill = deck.slide_master.background.fill
    fill.gradient()
    fill.gradient_angle = 90
    fill.gradient_stops[0].color.rgb = RGBColor(0xF4, 0xF4, 0xF4)
    fill.gradient_stops[1].color.rgb = RGBColor(0xD6, 0xDE, 0xEA)


_made("libreoffice_impress/3b27600c-3668-4abd-8f84-7bcdebbccbdb", **{
    "lec17-gui-events.pptx": lambda: _pptx([
        ("Lecture 17: GUI Events", ["Event-driven programming"]),
        ("Events", ["A click, a key press, a timer", "The toolkit queues them", "The event loop hands them out"]),
        ("Listeners", ["Register a handler for an event", "Keep handlers short", "Never block the event loop"]),
        ("Summary", ["Events drive the program", "Handlers react to them"])], edit=_gradient_background)})


def _grey_slide_numbers(deck: object) -> None:
    """Slide numbers on every slide, in a very light grey set on the master's slide number placeholder."""
    import copy

    from pptx.oxml.ns import qn

    master = deck.slide_master
    number = next(shape for shape in master.placeholders if shape.placeholder_format.type == 13)
    for fill in number._element.iter(qn("a:solidFill")):
        for child in list(fill):
            fill.remove(child)
        colour = fill.makeelement(qn("a:srgbClr"), {"val": "E8E8E8"})
        fill.append(colour)
    for slide in deck.slides:
        layout_number = next(shape for shape in slide.slide_layout.placeholders
                             if shape.placeholder_format.type == 13)
        element = copy.deepcopy(layout_number._element)
        element.find(qn("p:nvSpPr")).find(qn("p:cNvPr")).set("id", str(100 + len(slide.shapes)))
        slide.shapes._spTree.append(element)


_made("libreoffice_impress/ac9bb6cb-1888-43ab-81e4-a98a547918cd", **{
    "saa-format-guide.pptx": lambda: _pptx([
        ("Format Guide", ["How to lay out your submission"]),
        ("Page setup", ["A4 or Letter", "Margins of 2.5 cm", "Numbered pages"]),
        ("Text", ["One font throughout", "11 or 12 point body text", "Headings in bold"]),
        ("Figures and tables", ["Number them", "Give every one a caption", "Refer to them in the text"]),
        ("References", ["One citation style", "Alphabetical list at the end"])], edit=_grey_slide_numbers)})
_made("libreoffice_impress/c59742c0-4323-4b9d-8a02-723c251deaa0", **{
    "Mady_and_Mia_Baseball.pptx": lambda: _pptx([
        ("The History of Baseball", ["by Mady and Mia"]),
        ("Where it began", ["Bat-and-ball games in 18th-century England", "Early clubs in New York in the 1840s"]),
        ("The first professionals", ["The first all-professional team in 1869", "Leagues formed in the 1870s"]),
        ("Baseball today", ["Played all over the world", "Big leagues in America and Asia"])]),
    "Baseball.mp3": lambda: _mp3(59, 20)})
_made("libreoffice_impress/ce88f674-ab7a-43da-9201-468d38539e4a", **{
    "AM_Last_Page_Template.pptx": lambda: _pptx([
        ("Thank you", ["Questions and answers"]),
        ("Contact", ["Email: team@example.org", "Office hours: Tuesday 2-4 pm"])], widescreen=True)})


# ---- libreoffice_writer

_LOREM = ("LibreOffice Writer is a free word processor. It opens and saves many formats, among them the Open "
          "Document Format and Microsoft Word's files, and it has the features a long document needs: styles, "
          "tables of contents, footnotes, indexes and mail merge. ")

_made("libreoffice_writer/0e47de2a-32e0-456c-a366-8c607ef7a9d2", **{
    "LibreOffice_Open_Source_Word_Processing.docx": lambda: _docx(
        [("Title", "LibreOffice: Open Source Word Processing")] + [
            item for number in range(1, 7) for item in (
                ("Heading 1", f"Part {number}: " + ["History", "Writing", "Styles", "Tables", "Sharing",
                                                     "Extensions"][number - 1]),
                *[("Normal", _LOREM * 3) for _ in range(3)])])})
_made("libreoffice_writer/0e763496-b6bb-4508-a427-fad0b6c3e195", **{
    "Dublin_Zoo_Intro.docx": lambda: _docx([
        ("Normal", "Dublin Zoo"),
        ("Normal", "Dublin Zoo is in the Phoenix Park in Dublin, Ireland. It opened in 1831 and is one of the oldest "
                   "zoos in Europe."),
        ("Normal", "The zoo is home to some four hundred animals, from elephants and gorillas to red pandas and "
                   "penguins, in habitats such as the African Savanna and the Asian Forest."),
        ("Normal", "Besides showing animals, the zoo works on conservation and breeding programmes and teaches "
                   "visitors about wildlife.")], font="Liberation Sans", size=12)})
_made("libreoffice_writer/3ef2b351-8a84-4ff2-8724-d86eae9b842e", **{
    "Constitution_Template_With_Guidelines.docx": lambda: _docx([
        ("Heading 1", "Constitution of the Student Society"),
        ("Normal", "Guidelines: replace the text in brackets with your society's details and delete these notes."),
        ("Heading 2", "Article I - Name"),
        ("Normal", "The name of this organisation shall be [name of the society]."),
        ("Heading 2", "Article II - Purpose"),
        ("Normal", "The purpose of this organisation is [state the purpose in one or two sentences]."),
        ("Heading 2", "Article III - Membership"),
        ("Normal", "Membership is open to all students of [institution] who support the purpose of the society."),
        ("Heading 2", "Article IV - Officers"),
        ("Normal", "The officers shall be a president, a secretary and a treasurer, elected each year.")])})
_made("libreoffice_writer/bb8ccc78-479f-4a2f-a71e-d565e439436b", **{
    "The Wonders of Our Solar System.docx": lambda: _docx([
        ("Title", "The Wonders of Our Solar System"),
        ("Normal", "Our solar system is made of the Sun and everything that orbits it: eight planets, their moons, "
                   "dwarf planets, asteroids and comets."),
        ("Heading 1", "The inner planets"),
        ("Normal", "Mercury, Venus, Earth and Mars are small and rocky."),
        ("Heading 1", "The outer planets"),
        ("Normal", "Jupiter and Saturn are gas giants; Uranus and Neptune are ice giants.")])})
_made("libreoffice_writer/ecc2413d-8a48-416e-a3a2-d30106ca36cb", **{
    "Sample_Statutory_Declaration.docx": lambda: _docx([
        ("Title", "Statutory Declaration"),
        ("Normal", "I, [full name], of [address], do solemnly and sincerely declare that:"),
        ("Normal", "1. I am the owner of the property described in the attached schedule."),
        ("Normal", "2. To the best of my knowledge the property is free of any charge or claim."),
        ("Normal", "And I make this solemn declaration conscientiously believing the same to be true."),
        ("Normal", "Declared at [place] on [date]."),
        ("Normal", "Signature: ______________________"),
        ("Normal", "Before me: ______________________ (witness)")])})
_made("libreoffice_writer/f178a4a9-d090-4b56-bc4c-4b72a61a035d", **{
    "loa-one-time-submission-sealand.docx": lambda: _docx([
        ("Title", "Letter of Authorization - One-Time Submission"),
        ("Normal", "To whom it may concern,"),
        ("Normal", "I hereby authorize [agent name] to submit the documents listed below on my behalf, for this "
                   "one submission only."),
        ("Normal", "Documents: [list the documents]"),
        ("Normal", "Name: ____________________  Date: ____________"),
        ("Normal", "Signature: ____________________")])})


# ---- multi_apps

_made("multi_apps/2b9493d7-49b8-493a-a71b-56cd1f4d6908", **{
    "15-MB-docx-file-download.docx": lambda: _docx(
        [("Title", "Sample Document")] + [("Normal", _LOREM * 4) for _ in range(40)])})


def _binder_zip() -> bytes:
    """A small Python project, ``binder/``, with a change waiting to be committed."""
    files = {
        "binder/README.md": b"# binder\n\nGlue PDF files into one, in the order given.\n\n    python binder.py a.pdf b.pdf "
                            b"-o all.pdf\n",
        "binder/binder.py": b'"""Glue PDF files together."""\nimport argparse\n\n\ndef main():\n    parser = '
                            b'argparse.ArgumentParser(description=__doc__)\n    parser.add_argument("files", nargs="+")\n'
                            b'    parser.add_argument("-o", "--output", default="out.pdf")\n    args = parser.parse_args()'
                            b'\n    print(f"would bind {len(args.files)} files into {args.output}")\n\n\nif __name__ == '
                            b'"__main__":\n    main()\n',
        "binder/requirements.txt": b"pypdf>=4\n",
    }
    return _zip([("binder/", b""), *files.items()])


_made("multi_apps/2c9fc0de-3ee7-45e1-a5df-c86206ad78b5", **{"binder.zip": _binder_zip})

_CONFERENCES = [(conference, year) for year in range(2013, 2020) for conference in ("ICLR", "ICML", "NeurIPS")]
_CITIES = ["Scottsdale", "Atlanta", "Lake Tahoe", "Banff", "Beijing", "Montreal", "San Diego", "Lille", "Montreal",
           "San Juan", "New York City", "Barcelona", "Toulon", "Sydney", "Long Beach", "Vancouver", "Stockholm",
           "Montreal", "New Orleans", "Long Beach", "Vancouver"]
"""Where ICLR, ICML and NeurIPS met from 2013 to 2019 (public record), for the filled-in copy."""


def _conference_sheet(cities: bool) -> Callable[[object], None]:
    def build(workbook: object) -> None:
        sheet = workbook.active
        sheet.title = "Sheet1"
        sheet.append(["Conference", "Year", "City"])
        for (conference, year), city in zip(_CONFERENCES, _CITIES, strict=True):
            sheet.append([conference, year, city if cities else None])
        sheet.column_dimensions["C"].width = 18
    return build


_made("multi_apps/6f4073b8-d8ea-4ade-8a18-c5d1d5d5aa9a", **{
    "ConferenceCity.xlsx": lambda: _xlsx(_conference_sheet(False)),
    # downloaded after the episode and read by nothing (the checker compares with its rule): the filled-in table
    "ConferenceCity_Gold.xlsx": lambda: _xlsx(_conference_sheet(True))})


# ---- os

_made("os/23393935-50c7-4a86-aeea-2b78fd089c5c", **{
    "monk252520thailand252520wat252520arun252520scaled25255B225255D.jpg": lambda: _jpeg(_photo(231, "temple")),
    "hong-kong-china.jpg": lambda: _jpeg(_photo(232, "skyline")),
    "hk_group_photo.jpg": lambda: _jpeg(_photo(233, "group")),
    "us_3.png": lambda: _png(_photo(234, "family")),
    "emnlp2023.jpg": lambda: _jpeg(_photo(235, "conference"))})
_made("os/5ea617a3-0e86-4ba6-aab2-dac9aa2e8d57", **{
    "poster_party_night.webp": lambda: _encode(_poster(56), "WEBP", quality=85, method=4)})

_PHP_FILES = {
    "index.php": ["<?php", "require __DIR__ . '/src/Router.php';", "require __DIR__ . '/src/View.php';", "",
                  "$router = new Router();", "$router->get('/', fn() => View::render('home'));",
                  "$router->get('/about', fn() => View::render('about'));", "$router->dispatch($_SERVER['REQUEST_URI']);"],
    "src/Router.php": ["<?php", "class Router", "{", "    private array $routes = [];", "",
                       "    public function get(string $path, callable $handler): void", "    {",
                       "        $this->routes[$path] = $handler;", "    }", "",
                       "    public function dispatch(string $uri): void", "    {",
                       "        $path = parse_url($uri, PHP_URL_PATH);", "        $handler = $this->routes[$path] ?? null;",
                       "        if ($handler === null) {", "            http_response_code(404);",
                       "            echo 'Not found';", "            return;", "        }", "        echo $handler();",
                       "    }", "}"],
    "src/View.php": ["<?php", "class View", "{", "    public static function render(string $name): string", "    {",
                     "        ob_start();", "        include __DIR__ . \"/../views/$name.php\";",
                     "        return ob_get_clean();", "    }", "}"],
    "views/home.php": ["<h1>Welcome</h1>", "<p>This is the home page.</p>", "<?php echo date('Y'); ?>"],
    "views/about.php": ["<h1>About</h1>", "<p>A tiny site with a router and views.</p>",
                        "<p>Written in plain PHP.</p>", "<?php /* about */ ?>"],
    "config/app.php": ["<?php", "return [", "    'name' => 'tiny-site',", "    'debug' => false,",
                       "    'timezone' => 'UTC',", "    'locale' => 'en',", "];"],
}
"""The PHP project the setup script writes: 54 lines in all (the number the task's rule expects)."""


def _php_setup() -> bytes:
    """``setup.sh``: writes ``~/project``, a small PHP site (54 lines of PHP in six files) with a README and a CSS
    file that are not PHP."""
    script = ["#!/bin/bash", "# Made by step-envs: a small PHP project to count the lines of.", "set -e",
              'mkdir -p "$HOME/project"', 'cd "$HOME/project"', "mkdir -p src views config public"]
    for name, lines in _PHP_FILES.items():
        script += [f"cat > {name} <<'EOF'", *lines, "EOF"]
    script += ["cat > README.md <<'EOF'", "# tiny-site", "", "A router, two views and a config file.", "EOF",
               "cat > public/style.css <<'EOF'", "body { font-family: sans-serif; }", "h1 { color: #345; }", "EOF"]
    return ("\n".join(script) + "\n").encode()


_made("os/4127319a-8b79-4410-b58a-7a151e15f3d7", **{"setup.sh": _php_setup})



def _script(*lines: str) -> bytes:
    return ("\n".join(["#!/bin/bash", "# Made by step-envs for an OSWorld task (step_envs.osworld.made_files).",
                        *lines]) + "\n").encode()


def _check(key: str, why: str, **files: Maker) -> None:
    _made(key, **files)
    CHECK_SCRIPTS[key] = why


_check("os/4d117223-a354-47fb-8b45-62ab1390a95f",
       "eval.sh: every regular file under ~/testDir has mode 644 and the folders kept theirs",
       **{"setup.sh": lambda: _script(
           'cd "$HOME"', "rm -rf testDir", "mkdir -p testDir/docs/old testDir/scripts testDir/data", "cd testDir",
           "printf 'notes\\n' > readme.txt; chmod 600 readme.txt",
           "printf '#!/bin/sh\\necho hi\\n' > scripts/run.sh; chmod 755 scripts/run.sh",
           "printf 'a,b\\n1,2\\n' > data/table.csv; chmod 640 data/table.csv",
           "printf 'draft\\n' > docs/draft.md; chmod 777 docs/draft.md",
           "printf 'old\\n' > docs/old/2019.txt; chmod 444 docs/old/2019.txt",
           "printf 'key=value\\n' > .config; chmod 664 .config",
           "chmod 755 docs scripts data; chmod 750 docs/old"),
          "eval.sh": lambda: _script(
              'cd "$HOME/testDir" || { echo "testDir is missing."; exit 0; }',
              'wrong=$(find . -type f ! -perm 644 | head -n 1)',
              'dirs=$(stat -c "%n %a" docs scripts data docs/old | tr "\\n" " ")',
              'if [ -n "$wrong" ]; then echo "$wrong does not have permission 644.";',
              'elif [ "$dirs" != "docs 755 scripts 755 data 755 docs/old 750 " ]; then',
              '    echo "The permissions of the folders were changed: $dirs";',
              'else echo "All files have the correct permissions."; fi')})

_FAILED_NOTEBOOKS = ["fit_failed.ipynb", "models/cnn/train_failed.ipynb", "models/cnn/train.ipynb",
                     "models/rnn/eval_failed.ipynb", "reports/2024/summary.ipynb", "reports/2024/q1/plot_failed.ipynb",
                     "scratch/failed_notes.txt", "scratch/old_failed.ipynb.bak"]
"""The tree under ``~/test_environment``: four files match ``*failed.ipynb``, the others do not."""


def _notebooks_setup() -> bytes:
    lines = ['rm -rf "$HOME/test_environment"', 'mkdir -p "$HOME/test_environment"', 'cd "$HOME/test_environment"']
    for path in _FAILED_NOTEBOOKS:
        lines += [f'mkdir -p "$(dirname {path})"',
                  f"printf '{{\"cells\": [], \"metadata\": {{\"name\": \"{path}\"}}}}\\n' > {path}"]
    return _script(*lines)


_check("os/5c1075ca-bb34-46a3-a7a0-029bd7463e79",
       "eval.sh: each *failed.ipynb is copied to the same path under fails/, nothing else is, the originals stay",
       **{"setup.sh": _notebooks_setup,
          "eval.sh": lambda: _script(
              'cd "$HOME/test_environment" || { echo "test_environment is missing."; exit 0; }',
              'expected=$(find . -path ./fails -prune -o -type f -name "*failed.ipynb" -print | sed "s|^\\./||" | '
              'sort)',
              '[ -d fails ] || { echo "Evaluation failed: there is no fails folder."; exit 0; }',
              'copied=$(cd fails && find . -type f | sed "s|^\\./||" | sort)',
              'if [ -z "$expected" ]; then echo "Evaluation failed: the originals are gone."; exit 0; fi',
              'if [ "$expected" != "$copied" ]; then echo "Evaluation failed: fails/ holds:"; echo "$copied"; exit 0; fi',
              'for f in $expected; do cmp -s "$f" "fails/$f" || { echo "Evaluation failed: fails/$f differs."; '
              'exit 0; }; done',
              'echo "Evaluation successful."')})
_check("os/5ced85fc-fa1a-4217-95fd-0fb530545ce2",
       "eval.sh: ~/output.txt holds the three lines 1, 2, 3 each ending in <br/>",
       **{"eval.sh": lambda: _script(
           'cd "$HOME"',
           'if [ ! -f output.txt ]; then echo "Failure: output.txt does not exist."; exit 0; fi',
           'if [ "$(cat output.txt)" = "$(printf \'1<br/>\\n2<br/>\\n3<br/>\')" ]; then',
           '    echo "Success: The task has been completed correctly."',
           'else echo "Failure: output.txt holds something else."; fi')})
_check("os/6f56bf42-85b8-4fbb-8e06-6c44960184ba",
       "eval.sh: dir1, dir2 and dir3 each hold a copy of file1",
       **{"setup.sh": lambda: _script(
           'cd "$HOME"', "rm -rf dir1 dir2 dir3 file1", "mkdir dir1 dir2 dir3",
           "printf 'The quick brown fox jumps over the lazy dog.\\n' > file1"),
          "eval.sh": lambda: _script(
              'cd "$HOME"',
              'for d in dir1 dir2 dir3; do',
              '    if cmp -s file1 "$d/file1"; then echo "Success: file1 exists in $d.";',
              '    else echo "Failure: file1 is not in $d."; fi',
              'done')})
_check("multi_apps/b337d106-053f-4d37-8da0-7f9c4043a66b",
       "eval.sh: ~/.vimrc turns on absolute line numbers (set number / set nu)",
       **{"eval.sh": lambda: _script(
           'if grep -Eq \'^[[:space:]]*set([[:space:]]+[a-z]+)*[[:space:]]+(nu|number)([[:space:]]|$)\' '
           '"$HOME/.vimrc" 2>/dev/null; then',
           '    echo "The File Has Set Number!"',
           'else echo "The File Has Not Set Number."; fi')})

# ---- vlc

_made("vlc/386dbd0e-0241-4a0a-b6a2-6704fba26b1c", **{
    "lecture.pdf": lambda: _pdf([
        ["Lecture 2: Data Structures", "Interfaces and implementations",
         "An interface says what operations a data structure supports;",
         "an implementation says how they are done and how fast.", "",
         "Sequence interface: build, len, get_at, set_at, insert_at, delete_at.",
         "Set interface: build, len, find, insert, delete, find_min, find_max."],
        ["Arrays and linked lists", "Static array: get_at and set_at in O(1), insert_at in O(n).",
         "Linked list: insert_first in O(1), get_at in O(n).",
         "Dynamic array: append in amortised O(1) by doubling its capacity."]],
        title="6.006 Introduction to Algorithms, Lecture 2: Data Structures"),
    "Colorful-Flowers.mp3": lambda: _mp3(386, 90)})
_made("vlc/59f21cfb-0120-4326-b255-a5b827b38967", **{
    "Rick Astley - Never Gonna Give You Up (Official Music Video).mp4": lambda: _mp4(59, 90)})
_made("vlc/8d9fd4e2-6fdb-46b0-b9b9-02f06495c62f", **{"Gen 2.mp4": lambda: _mp4(82, 90)})

NEEDS_FFMPEG.update(key for key, files in MADE.items() if any(Path(name).suffix in (".mp3", ".mp4") for name in files))


# ----------------------------------------------------------------------------------------------------------------


def _selected(tasks: Iterable[str] | None) -> list[str]:
    """The keys of :data:`MADE` that ``tasks`` names (``domain/id``, an id, or an id's start); all when None."""
    if tasks is None:
        return sorted(MADE)
    wanted = list(tasks)
    return sorted(key for key in MADE if any(key.startswith(name) or key.split("/", 1)[1].startswith(name)
                                             for name in wanted))


def make_mirror(out_dir: str | Path, tasks: Iterable[str] | None = None) -> list[Path]:
    """Write the stand-in files of ``tasks`` (``"domain/id"``, ids or their starts; every task in :data:`MADE`
    when None) at ``<out_dir>/<domain>/<task id>/<file name>``, the layout ``load_osworld``'s ``file_cache``
    reads; returns the files written. A file already there with the same bytes is left as it is; a task with a
    file FFmpeg makes is skipped where FFmpeg is not installed."""
    out = Path(out_dir)
    written = []
    for key in _selected(tasks):
        if key in NEEDS_FFMPEG and _ffmpeg() is None:
            continue
        folder = out / key
        folder.mkdir(parents=True, exist_ok=True)
        for name, make in MADE[key].items():
            data = make()
            path = folder / name
            if not (path.is_file() and path.read_bytes() == data):
                path.write_bytes(data)
            written.append(path)
    return written
