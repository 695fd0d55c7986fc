"""GIMP's one-purpose image metrics on pictures PIL draws in the test."""

from pathlib import Path

from PIL import Image, ImageDraw

from step_envs.checkers import METRICS, Score


def score(name: str, result, expected=None, **options) -> Score:
    return METRICS[name](result, expected, **options)


def scene(path: Path, background: str = "white", size: tuple[int, int] = (120, 80), mode: str = "RGB") -> str:
    """A black disc (the object) on ``background``, with a grey bar for structure."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 20, 80, 60), fill="black")
    draw.rectangle((5, 70, 115, 75), fill=(90, 90, 90))
    (image.convert(mode) if mode != "P" else image.convert("P", palette=Image.Palette.ADAPTIVE)).save(path)
    return str(path)


def test_palette_and_structure(tmp_path):
    original = scene(tmp_path / "computer.png")
    assert score("check_palette_and_structure_sim", scene(tmp_path / "p.png", mode="P"), original).value == 1.0
    assert score("check_palette_and_structure_sim", scene(tmp_path / "rgb.png"), original).reason.startswith(
        "mode RGB (palette: P)")


def test_green_background_checks_every_pixel_but_the_black_object(tmp_path):
    original = scene(tmp_path / "white.png")
    assert score("check_green_background", scene(tmp_path / "g.png", background=(20, 200, 30)), original).value == 0
    # the grey bar is background too: only a picture whose every non-object pixel is green passes
    image = Image.new("RGB", (120, 80), (20, 200, 30))
    ImageDraw.Draw(image).ellipse((40, 20, 80, 60), fill="black")
    image.save(tmp_path / "green.png")
    assert score("check_green_background", str(tmp_path / "green.png"), original) == Score(
        1.0, "the background is green")
    assert score("check_green_background", scene(tmp_path / "s.png", size=(80, 80)), original).value == 0.0


def test_textbox_on_the_left(tmp_path):
    def text_at(x: int) -> str:
        image = Image.new("RGB", (200, 100), "white")
        ImageDraw.Draw(image).rectangle((x, 40, x + 60, 55), fill="black")
        image.save(tmp_path / f"t{x}.png")
        return str(tmp_path / f"t{x}.png")

    assert score("check_textbox_on_leftside", text_at(4)) == Score(1.0, "text starts at x=4")
    assert score("check_textbox_on_leftside", text_at(50)).value == 0.0


def test_triangle_position_takes_the_shape_not_the_background(tmp_path):
    def triangle_at(cx: int, cy: int) -> str:
        image = Image.new("RGB", (200, 200), (40, 40, 160))
        ImageDraw.Draw(image).polygon([(cx - 15, cy + 10), (cx + 15, cy + 10), (cx, cy - 20)], fill=(250, 220, 0))
        image.save(tmp_path / f"tri{cx}.png")
        return str(tmp_path / f"tri{cx}.png")

    assert score("check_triangle_position", triangle_at(100, 103)).value == 1.0
    assert score("check_triangle_position", triangle_at(40, 40)).value == 0.0  # OSWorld's reading passes this one


def test_image_file_size_and_structure_with_threshold(tmp_path):
    photo = scene(tmp_path / "photo.png")
    assert score("check_image_file_size", photo, {"max_size": 600000}).value == 1.0
    assert score("check_image_file_size", photo, {"max_size": 100}).value == 0.0
    Image.open(photo).resize((240, 160), Image.Resampling.NEAREST).save(tmp_path / "big.png")
    assert score("check_structure_sim_with_threshold", str(tmp_path / "big.png"), photo).value == 1.0  # resized
    other = Image.new("RGB", (120, 80), "white")
    other.save(tmp_path / "blank.png")
    assert score("check_structure_sim_with_threshold", str(tmp_path / "blank.png"), photo, ssim_threshold=0.95
                 ).value == 0.0
