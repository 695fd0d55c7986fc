"""Agreement between two actions, for step-level GRPO augmentation.

The env action space's reader (`step_envs.actions.action_points`) gives each action's type, screen point and text;
two actions agree when all three match. Candidates and the reference come from the same policy, hence the same
action space and the same screen pixels, whatever the model's dialect.

Two points match in one of two ways:

- **element identity**, when the state's observation has the accessibility tree (`elements`, the boxes of its
  listed elements, `element_boxes`): each point belongs to the smallest element box holding it, and the points
  match when that is the same element (the same dropdown row, the same button), however far apart inside it;
  points in no element fall back to the pixel rule, and a point in an element never matches one outside all;
- **pixels** otherwise: within `delta` pixels (Euclidean). `delta` must be smaller than half the spacing of
  neighbouring targets, or a neighbour agrees: `screen_tolerance` turns a fraction of the screen diagonal into it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from step_envs.actions import ActionPoint, action_points

Box = tuple[float, float, float, float]
"""An element's box on the screen: left, top, right, bottom (pixels)."""


def element_boxes(a11y_tree: str | None, screen_size: tuple[int, int]) -> list[Box]:
    """The boxes of the elements the prompt's table lists (`step_envs.agents.a11y.a11y_rows`, every scope), in
    screen pixels; empty without a tree or when it cannot be read."""
    if not a11y_tree:
        return []
    from step_envs.agents.a11y import a11y_rows

    try:
        rows = a11y_rows(a11y_tree, screen_size)
    except ValueError:
        return []
    return [(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2) for _, _, _, (cx, cy), (w, h), _ in rows]


def element_at(x: float, y: float, elements: Sequence[Box]) -> int | None:
    """The index of the smallest box holding `(x, y)` (edges included), None when none does."""
    best, best_area = None, math.inf
    for index, (left, top, right, bottom) in enumerate(elements):
        if left <= x <= right and top <= y <= bottom:
            area = (right - left) * (bottom - top)
            if area < best_area:
                best, best_area = index, area
    return best


def points_agree(candidate: tuple[float, float], reference: tuple[float, float], delta: float,
                 elements: Sequence[Box] = ()) -> bool:
    """Same element when `elements` place either point in one, else within `delta` pixels."""
    if elements:
        a, b = element_at(*candidate, elements), element_at(*reference, elements)
        if a is not None or b is not None:
            return a == b
    return math.dist(candidate, reference) <= delta


def normalize_text(text: str) -> str:
    """Case-folded, with runs of whitespace collapsed to one space and the ends stripped."""
    return " ".join(text.split()).lower()


def _single_agrees(candidate: ActionPoint, reference: ActionPoint, delta: float, elements: Sequence[Box]) -> bool:
    if candidate.type != reference.type:
        return False
    if candidate.x is None or reference.x is None:
        same_point = candidate.x is None and reference.x is None
    else:
        same_point = points_agree((candidate.x, candidate.y), (reference.x, reference.y), delta,  # type: ignore[arg-type]
                                  elements)
    if candidate.text is None or reference.text is None:
        texts_agree = candidate.text is None and reference.text is None
    else:
        texts_agree = normalize_text(candidate.text) == normalize_text(reference.text)
    return same_point and texts_agree


def actions_agree(candidate: str, reference: str, delta: float, elements: Sequence[Box] = ()) -> bool:
    """1 if the actions have the same type, matching points (the same element of `elements` when either point is
    in one, else within `delta` pixels) and equal normalized text.

    Snippets with several actions agree when they have as many actions and each pair agrees.
    """
    parsed_candidate, parsed_reference = action_points(candidate), action_points(reference)
    if parsed_candidate is None or parsed_reference is None or len(parsed_candidate) != len(parsed_reference):
        return False
    return all(_single_agrees(c, r, delta, elements) for c, r in zip(parsed_candidate, parsed_reference, strict=True))


def screen_tolerance(screen_size: tuple[int, int], fraction: float) -> float:
    """`delta = fraction * sqrt(width^2 + height^2)` in pixels."""
    return fraction * math.hypot(*screen_size)
