"""Image metrics (GIMP, VLC snapshots, wallpapers, images in documents), with the rules of OSWorld's ``gimp.py``/``vlc.py``.

Structure is compared by SSIM (Wang et al. 2004) on 7x7 uniform windows, as scikit-image computes it by default::

    SSIM(x, y) = mean over windows of ((2 mu_x mu_y + C1)(2 s_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))

with C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 255, sample (co)variances (divided by 48), windows wholly inside the image,
and the mean over channels for colour images. Brightness is the mean of the grey (``L``) image; contrast the standard
deviation of all pixel values; saturation the mean of HSV's S channel.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageChops

from step_envs.checkers.metrics.scoring import verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short

SSIM_WINDOW = 7
SSIM_SAME = 0.9
"""SSIM from which two images count as having the same structure (OSWorld's default threshold)."""


def _ssim_channel(a: np.ndarray, b: np.ndarray, window: int) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    count = window * window
    wa, wb = sliding_window_view(a, (window, window)), sliding_window_view(b, (window, window))
    mu_a, mu_b = wa.mean(axis=(-1, -2)), wb.mean(axis=(-1, -2))
    scale = count / (count - 1)
    var_a = ((wa * wa).mean(axis=(-1, -2)) - mu_a**2) * scale
    var_b = ((wb * wb).mean(axis=(-1, -2)) - mu_b**2) * scale
    cov = ((wa * wb).mean(axis=(-1, -2)) - mu_a * mu_b) * scale
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(value.mean())


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two same-shaped 8-bit arrays (H, W) or (H, W, C); see the module docstring. The window shrinks to the
    largest odd size that fits an image under 7 pixels on a side."""
    if a.shape != b.shape:
        raise ValueError(f"SSIM needs images of one shape, got {a.shape} and {b.shape}")
    window = min(SSIM_WINDOW, *a.shape[:2])
    window -= 1 - window % 2
    if window < 1:
        raise ValueError(f"image of shape {a.shape} is too small for SSIM")
    if a.ndim == 2:
        return _ssim_channel(a, b, window)
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], window) for c in range(a.shape[2])]))


def _open(path: Any, role: str) -> Image.Image:
    if not isinstance(path, str) or not path:
        raise ValueError(f"{role} must be the path of an image file, got {short(path)}")
    with Image.open(path) as image:
        image.load()
        return image


def _same_structure(a: Image.Image, b: Image.Image, threshold: float = SSIM_SAME) -> tuple[bool, float]:
    """(SSIM >= threshold, SSIM) of two images in RGB; images of different sizes or under 7 pixels are not alike."""
    if a.size != b.size or min(*a.size, *b.size) < SSIM_WINDOW:
        return False, 0.0
    value = ssim(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))
    return value >= threshold, value


def _brightness(image: Image.Image) -> float:
    return float(np.asarray(image.convert("L"), dtype=np.float64).mean())


@metric("compare_images")
def compare_images(result: str | None, expected: str | None, reference_base_result: float | None = None,
                   **options: Any) -> Score:
    """SSIM of the two images in grey, both resized (Lanczos) to the smaller (by width, then height) of the two.

    With ``reference_base_result`` b (the SSIM an untouched result would get), the score is rescaled to the
    improvement: ``(s - b) / (1 - b)`` when ``s >= b + 0.01``, else 0."""
    if result is None:
        return NO_RESULT
    first, second = _open(result, "the result").convert("L"), _open(expected, "the expected image").convert("L")
    size = min(first.size, second.size)
    first, second = first.resize(size, Image.Resampling.LANCZOS), second.resize(size, Image.Resampling.LANCZOS)
    value = max(0.0, ssim(np.asarray(first), np.asarray(second)))
    if reference_base_result is None:
        return Score(min(value, 1.0), f"SSIM {value:.3f}")
    base = float(reference_base_result)
    if value >= base + 0.01:
        return Score(min(1.0, (value - base) / (1 - base)), f"SSIM {value:.3f} over the base {base:.3f}")
    return Score(0.0, f"SSIM {value:.3f} not above the base {base:.3f}")


def _pairs(result: Any, expected: Any) -> list[tuple[Any, Any]]:
    if isinstance(result, list) != isinstance(expected, list):
        raise ValueError("result and expected must both be one path or both lists of paths")
    if not isinstance(result, list):
        return [(result, expected)]
    if len(result) != len(expected):
        raise ValueError(f"{len(result)} result images but {len(expected)} expected ones")
    return list(zip(result, expected, strict=True))


@metric("compare_image_list")
def compare_image_list(result: Any, expected: Any, **options: Any) -> Score:
    """1 when every result image equals its expected image pixel for pixel (after resizing the result to the expected
    size and converting it to the expected mode), else 0."""
    for index, (got, want) in enumerate(_pairs(result, expected)):
        if not got or not want:
            return Score(0.0, f"image {index + 1} missing")
        actual, gold = _open(got, "a result image"), _open(want, "an expected image")
        if actual.size != gold.size:
            actual = actual.resize(gold.size, Image.Resampling.LANCZOS)
        if actual.mode != gold.mode:
            actual = actual.convert(gold.mode)
        box = ImageChops.difference(actual, gold).getbbox()
        if box:
            return Score(0.0, f"image {index + 1} differs within {box}")
    return Score(1.0, "every image matches")


@metric("check_structure_sim")
def check_structure_sim(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when both images have one size and SSIM >= 0.9, else 0."""
    if result is None:
        return NO_RESULT
    same, value = _same_structure(_open(result, "the result"), _open(expected, "the expected image"))
    return verdict(same, f"SSIM {value:.3f} >= {SSIM_SAME}", f"SSIM {value:.3f} < {SSIM_SAME} (or sizes differ)")


@metric("check_structure_sim_resized")
def check_structure_sim_resized(result: str | None, expected: str | None, **options: Any) -> Score:
    """check_structure_sim after resizing the result to the expected size; a result with transparency is first
    cropped to its opaque content (a fully transparent one scores 0)."""
    if result is None:
        return NO_RESULT
    image, gold = _open(result, "the result"), _open(expected, "the expected image")
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        box = image.convert("RGBA").getchannel("A").getbbox()
        if box is None:
            return Score(0.0, "the result is fully transparent")
        image = image.convert("RGBA").crop(box).convert("RGB")
    same, value = _same_structure(image.resize(gold.size), gold)
    return verdict(same, f"SSIM {value:.3f} after resizing", f"SSIM {value:.3f} < {SSIM_SAME} after resizing")


def _normalised(image: Image.Image, target: float = 128.0) -> Image.Image:
    """Every 8-bit value scaled by ``target / brightness`` and clipped to [0, 255]."""
    factor = target / max(_brightness(image), 1e-9)
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64) * factor
    return Image.fromarray(np.clip(pixels.astype(np.int64), 0, 255).astype(np.uint8))


@metric("check_brightness_decrease_and_structure_sim")
def check_brightness_decrease_and_structure_sim(result: str | None, expected: str | None, threshold: float = 0.03,
                                                **options: Any) -> Score:
    """1 when the result is darker than the original (``expected``) and, both scaled to brightness 128, their mean
    squared difference (values in [0, 1]) is under ``threshold``."""
    if result is None:
        return NO_RESULT
    image, original = _open(result, "the result"), _open(expected, "the original image")
    darker = _brightness(image) < _brightness(original)
    a, b = _normalised(image), _normalised(original)
    if a.size != b.size:
        a = a.resize(b.size, Image.Resampling.LANCZOS)
    mse = float(np.mean((np.asarray(a, np.float64) / 255 - np.asarray(b, np.float64) / 255) ** 2))
    return verdict(darker and mse < threshold, f"darker, MSE {mse:.4f} < {threshold}",
                   f"darker: {darker}, MSE {mse:.4f} (needs < {threshold})")


def _saturation(image: Image.Image) -> float:
    return float(np.asarray(image.convert("HSV").getchannel("S"), dtype=np.float64).mean())


@metric("check_saturation_increase_and_structure_sim")
def check_saturation_increase_and_structure_sim(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the result is more saturated than the original and its hue and value channels keep SSIM >= 0.9."""
    if result is None:
        return NO_RESULT
    image, original = _open(result, "the result").convert("HSV"), _open(expected, "the original").convert("HSV")
    more = _saturation(image) > _saturation(original)
    hue, _ = _same_structure(image.getchannel("H"), original.getchannel("H"))
    value, _ = _same_structure(image.getchannel("V"), original.getchannel("V"))
    return verdict(more and hue and value, "more saturated, same structure",
                   f"more saturated: {more}, hue alike: {hue}, value alike: {value}")


@metric("check_contrast_increase_and_structure_sim")
def check_contrast_increase_and_structure_sim(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the result's contrast (std of pixel values) is higher than the original's and SSIM >= 0.65."""
    if result is None:
        return NO_RESULT
    image, original = _open(result, "the result"), _open(expected, "the original image")
    higher = float(np.asarray(image, np.float32).std()) > float(np.asarray(original, np.float32).std())
    same, value = _same_structure(image, original, threshold=0.65)
    return verdict(higher and same, f"higher contrast, SSIM {value:.3f}",
                   f"higher contrast: {higher}, SSIM {value:.3f} (needs >= 0.65)")


@metric("check_file_exists_and_structure_sim")
def check_file_exists_and_structure_sim(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the exported file exists and has the expected image's structure (SSIM >= 0.9)."""
    if result is None or not Path(result).is_file():
        return NO_RESULT
    return check_structure_sim(result, expected)


@metric("check_image_size")
def check_image_size(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when the image's ``width``/``height`` equal those in the rules (an absent one is not checked). With
    ``ignore_transparent``, or for any image with a ``transparency`` entry, the size of its opaque content counts."""
    if result is None:
        return NO_RESULT
    if not isinstance(rules, dict) or not ({"width", "height"} & rules.keys()):
        raise ValueError(f"needs rules with 'width' and/or 'height' (getter 'rule'), got {short(rules)}")
    image = _open(result, "the result")
    width, height = image.size
    if (rules.get("ignore_transparent") and image.mode in ("RGBA", "LA")) or "transparency" in image.info:
        box = image.convert("RGBA").getchannel("A").getbbox()
        width, height = (box[2] - box[0], box[3] - box[1]) if box else (0, 0)
    wanted = (rules.get("width"), rules.get("height"))
    ok = wanted[0] in (None, width) and wanted[1] in (None, height)
    return verdict(ok, f"{width}x{height}", f"{width}x{height}, wanted {wanted[0]}x{wanted[1]}")


@metric("check_image_mirror")
def check_image_mirror(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the result is the original flipped left to right (SSIM >= 0.9)."""
    if result is None:
        return NO_RESULT
    mirrored = _open(expected, "the original image").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    same, value = _same_structure(_open(result, "the result"), mirrored)
    return verdict(same, f"mirrored, SSIM {value:.3f}", f"not the mirror image (SSIM {value:.3f})")


def _docx_images(path: str) -> list[bytes]:
    from docx import Document

    document = Document(path)
    images = []
    for relation in document.part.rels.values():
        if "image" in relation.reltype:
            with Image.open(io.BytesIO(relation.target_part.blob)) as image:
                images.append(image.tobytes())
    return images


@metric("compare_docx_images")
def compare_docx_images(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when both documents hold the same number of images with the same decoded pixels, in relation order."""
    if result is None:
        return NO_RESULT
    got, want = _docx_images(result), _docx_images(str(expected))
    if len(got) != len(want):
        return Score(0.0, f"{len(got)} images, expected {len(want)}")
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        if a != b:
            return Score(0.0, f"image {index + 1} differs")
    return Score(1.0, f"{len(got)} images match")


@metric("check_structure_sim_with_threshold")
def check_structure_sim_with_threshold(result: str | None, expected: str | None, ssim_threshold: float = 0.85,
                                       **options: Any) -> Score:
    """1 when SSIM >= ``ssim_threshold`` after resizing the result (Lanczos) to the expected size."""
    if result is None or expected is None:
        return NO_RESULT
    image, gold = _open(result, "the result"), _open(expected, "the expected image")
    if image.size != gold.size:
        image = image.resize(gold.size, Image.Resampling.LANCZOS)
    same, value = _same_structure(image, gold, threshold=float(ssim_threshold))
    return verdict(same, f"SSIM {value:.3f} >= {ssim_threshold}", f"SSIM {value:.3f} < {ssim_threshold}")


@metric("check_palette_and_structure_sim")
def check_palette_and_structure_sim(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the result is a palette image (mode ``P``) with the original's structure (SSIM >= 0.9)."""
    if result is None or expected is None:
        return NO_RESULT
    image = _open(result, "the result")
    same, value = _same_structure(image, _open(expected, "the original image"))
    return verdict(image.mode == "P" and same, f"palette image, SSIM {value:.3f}",
                   f"mode {image.mode} (palette: P), SSIM {value:.3f} (needs >= {SSIM_SAME})")


@metric("check_image_file_size")
def check_image_file_size(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when the file is a picture smaller than ``rules["max_size"]`` bytes (OSWorld checks the size alone, so an
    empty file passes there)."""
    if not isinstance(rules, dict) or not isinstance(rules.get("max_size"), int | float):
        raise ValueError(f"needs rules {{'max_size': bytes}} (getter 'rule'), got {short(rules)}")
    if result is None:
        return NO_RESULT
    _open(result, "the result")  # raises for a file that is no picture
    size = Path(result).stat().st_size
    return verdict(size < rules["max_size"], f"{size} bytes", f"{size} bytes, not under {rules['max_size']}")


@metric("check_green_background")
def check_green_background(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when every pixel that is not pure black in the original (``expected``: the object is black, the rest
    background) is green in the result (G above R and B). OSWorld indexes the pixels with x and y swapped, which
    only works for square images; here they are read the right way round."""
    if result is None or expected is None:
        return NO_RESULT
    image, original = _open(result, "the result"), _open(expected, "the original image")
    if image.size != original.size:
        return Score(0.0, f"the result is {image.size}, the original {original.size}")
    pixels = np.asarray(image.convert("RGB"), np.int16)
    background = np.any(np.asarray(original.convert("RGB")) != 0, axis=2)
    green = (pixels[..., 1] > pixels[..., 0]) & (pixels[..., 1] > pixels[..., 2])
    wrong = int(np.count_nonzero(background & ~green))
    return verdict(not wrong, "the background is green", f"{wrong} background pixels are not green")


@metric("check_textbox_on_leftside")
def check_textbox_on_leftside(result: str | None, expected: Any = None, **options: Any) -> Score:
    """1 when the left-most dark pixel (grey below 128: the text) lies within the left 5 % of the image."""
    if result is None:
        return NO_RESULT
    grey = np.asarray(_open(result, "the result").convert("L"))
    columns = np.flatnonzero((grey < 128).any(axis=0))
    width = grey.shape[1]
    if not len(columns):
        return Score(0.0, "no dark text in the image")
    return verdict(columns[0] < width * 0.05, f"text starts at x={columns[0]}",
                   f"text starts at x={columns[0]}, not within the left 5 % ({width * 0.05:g} px)")


@metric("check_triangle_position")
def check_triangle_position(result: str | None, expected: Any = None, **options: Any) -> Score:
    """1 when the centroid of the shape (the pixels of the image's second most common colour; the most common is
    the background) is within 5 % of the image's size from its centre on both axes. OSWorld's code picks the second
    *least* common colour, which is the background in a two-colour picture; here the shape is taken."""
    if result is None:
        return NO_RESULT
    pixels = np.asarray(_open(result, "the result"))
    flat = pixels.reshape(-1, pixels.shape[2]) if pixels.ndim == 3 else pixels.reshape(-1, 1)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    if len(colours) < 2:
        return Score(0.0, "the image has a single colour")
    shape = colours[np.argsort(counts)[-2]]
    where = np.argwhere(np.all(flat == shape, axis=1).reshape(pixels.shape[:2]))
    centroid, centre = where.mean(axis=0), np.array(pixels.shape[:2]) / 2
    off = np.abs(centroid - centre)
    inside = bool(np.all(off < 0.05 * np.array(pixels.shape[:2])))
    return verdict(inside, f"the shape's centre is {off.round(1).tolist()} px (y, x) from the middle",
                   f"the shape's centre is {off.round(1).tolist()} px (y, x) from the middle, over 5 %")
