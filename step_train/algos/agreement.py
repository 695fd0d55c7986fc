"""Agreement between two actions, for step-level GRPO augmentation.

The env action space's reader (`step_envs.actions.action_points`) gives each action's type, screen point and text;
two actions agree when all three match (points within `delta` pixels). Candidates and the reference come from the
same policy, hence the same action space and the same screen pixels, whatever the model's dialect.
"""

from __future__ import annotations

import math

from step_envs.actions import ActionPoint, action_points


def normalize_text(text: str) -> str:
    """Case-folded, with runs of whitespace collapsed to one space and the ends stripped."""
    return " ".join(text.split()).lower()


def _single_agrees(candidate: ActionPoint, reference: ActionPoint, delta: float) -> bool:
    if candidate.type != reference.type:
        return False
    if candidate.x is None or reference.x is None:
        points_agree = candidate.x is None and reference.x is None
    else:
        points_agree = math.dist((candidate.x, candidate.y), (reference.x, reference.y)) <= delta
    if candidate.text is None or reference.text is None:
        texts_agree = candidate.text is None and reference.text is None
    else:
        texts_agree = normalize_text(candidate.text) == normalize_text(reference.text)
    return points_agree and texts_agree


def actions_agree(candidate: str, reference: str, delta: float) -> bool:
    """1 if the actions have the same type, points within `delta` pixels (Euclidean) and equal normalized text.

    Snippets with several actions agree when they have as many actions and each pair agrees.
    """
    parsed_candidate, parsed_reference = action_points(candidate), action_points(reference)
    if parsed_candidate is None or parsed_reference is None or len(parsed_candidate) != len(parsed_reference):
        return False
    return all(_single_agrees(c, r, delta) for c, r in zip(parsed_candidate, parsed_reference, strict=True))


def screen_tolerance(screen_size: tuple[int, int], fraction: float) -> float:
    """`delta = fraction * sqrt(width^2 + height^2)` in pixels."""
    return fraction * math.hypot(*screen_size)
