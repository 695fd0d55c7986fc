"""Error bars for success rates, and whether two runs differ by more than chance.

- :func:`wilson`: the 95 % Wilson score interval of ``successes / n``. Unlike the normal approximation it stays
  inside [0, 1] and is honest at 0 % and 100 %: 12 of 12 gives [0.76, 1.00], 64 of 64 gives [0.94, 1.00].
- :func:`two_proportions`: the two-sided p-value of a pooled two-proportion z-test (two runs on different
  episodes, or a group of tasks compared across runs).
- :func:`mcnemar`: the two-sided exact McNemar p-value for paired episodes (the same task and seed in both runs):
  only the episodes whose outcome changed count, so it sees a real difference sooner than the unpaired test.

Scores in [0, 1] that are not 0/1 count as fractional successes (``successes`` = the sum of scores).
"""

from __future__ import annotations

import math

Z95 = 1.959964
ALPHA = 0.05
"""The significance level ``bench compare`` marks differences at."""


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a success rate ``successes / n`` (95 % by default); (0, 1) for no trials."""
    if n <= 0:
        return 0.0, 1.0
    p = min(max(successes / n, 0.0), 1.0)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportions(successes_a: float, n_a: int, successes_b: float, n_b: int) -> float | None:
    """Two-sided p-value that rates ``a`` and ``b`` are equal (pooled z-test); None without trials on a side."""
    if n_a <= 0 or n_b <= 0:
        return None
    pooled = (successes_a + successes_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread == 0.0:
        return 1.0
    z = abs(successes_a / n_a - successes_b / n_b) / spread
    return math.erfc(z / math.sqrt(2))


def mcnemar(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pairs: ``only_a`` episodes solved in run a and not in
    b, ``only_b`` the other way round."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def interval_text(stats: dict, digits: int = 0) -> str:
    """``[lo-hi]`` in percent of a :func:`step_envs.bench.results.group_stats` dict ("" for one written before
    intervals were)."""
    if not stats.get("interval"):
        return ""
    low, high = stats["interval"]
    return f"[{100 * low:.{digits}f}-{100 * high:.{digits}f}]"
