"""The per-pair ratios of a paired comparison and what they establish: every benchmark states its figures so.

A figure is the median of one ratio per interleaved pair (:func:`benchmarks.benchlib.interleaved_pairs`),
its spread the stated uncertainty, and a verdict needs at least :data:`MIN_PAIRS` pairs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Fewest interleaved pairs behind a stated ratio (fewer and one noisy pair moves the median).
MIN_PAIRS = 7
#: Pairs a full run measures (``make bench``): more than :data:`MIN_PAIRS` so that a second run's median
#: falls outside the first run's min..max by chance alone about 1% of the time, not 7%
#: (:func:`outside_spread_chance`).
DEFAULT_PAIRS = 11
NOT_ESTABLISHED = "not established"


def outside_spread_chance(pairs: int) -> float:
    """The chance that a second run's median lies outside a first run's min..max when nothing changed.

    Both runs measure ``pairs`` ratios drawn independently from one continuous distribution. The
    second median lies above the first maximum exactly when the ``(pairs + 1) // 2`` largest of all
    ``2 * pairs`` ratios are the second run's; every split of the ranks between the runs is equally
    likely, so that chance is ``C(2n - m, n - m) / C(2n, n)``, and the same below the minimum. This is the
    floor of any reproduction rule "second median within the first spread": a rule no code can beat by
    being steadier. 7 pairs: 7.0%; 11 pairs: 1.2%. For an even count (the median the mean of the two middle
    ratios) the same formula with ``m = pairs // 2`` is an upper bound.

    Raises:
        ValueError: On fewer than 2 pairs (one ratio is its own spread).
    """
    if pairs < 2:
        raise ValueError(f"pairs must be at least 2, got {pairs}")
    m = (pairs + 1) // 2
    return 2 * math.comb(2 * pairs - m, pairs - m) / math.comb(2 * pairs, pairs)


@dataclass(frozen=True)
class RatioSummary:
    """The per-pair ratios of a paired comparison and what they establish.

    A ratio is "how many times the candidate's figure is the baseline's" in the direction of the metric's
    name (e.g. a speedup: baseline CPU seconds / candidate CPU seconds). Each pair ran back to back under
    the same load, so the ratio of a pair is far steadier than either side alone; the spread of the
    ratios over the pairs (min to max) is the stated uncertainty.

    Attributes:
        ratios: One ratio per pair, in the order the pairs ran.
        reference: The value the verdict compares against (1.0: "is the candidate different at all").
    """

    ratios: tuple[float, ...]
    reference: float = 1.0

    @property
    def min(self) -> float:
        """Smallest per-pair ratio."""
        return min(self.ratios)

    @property
    def median(self) -> float:
        """Median per-pair ratio (the headline figure)."""
        return float(statistics.median(self.ratios))

    @property
    def max(self) -> float:
        """Largest per-pair ratio."""
        return max(self.ratios)

    @property
    def verdict(self) -> str:
        """``above`` / ``below`` the reference when every pair says so, else :data:`NOT_ESTABLISHED`.

        Fewer than :data:`MIN_PAIRS` pairs never establish anything.
        """
        if len(self.ratios) < MIN_PAIRS:
            return NOT_ESTABLISHED
        if self.min > self.reference:
            return "above"
        if self.max < self.reference:
            return "below"
        return NOT_ESTABLISHED

    def meets(self, target: float, floor: float) -> bool:
        """Median at least ``target`` and every pair above ``floor`` (over at least :data:`MIN_PAIRS`)."""
        return len(self.ratios) >= MIN_PAIRS and self.median >= target and self.min > floor

    def at_most(self, goal: float) -> bool:
        """For a lower-is-better ratio: median at most ``goal`` over at least :data:`MIN_PAIRS` pairs."""
        return len(self.ratios) >= MIN_PAIRS and self.median <= goal

    def text(self, unit: str = "x") -> str:
        """``median 1.62x (min 1.41x, max 1.80x, 7 pairs)``, with ``not established`` when it is not."""
        core = (
            f"median {self.median:.2f}{unit} (min {self.min:.2f}{unit}, max {self.max:.2f}{unit}, "
            f"{len(self.ratios)} pairs)"
        )
        return core + (
            f", {NOT_ESTABLISHED} vs {self.reference:g}" if self.verdict == NOT_ESTABLISHED else ""
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the ratios, min/median/max and the verdict."""
        return {
            "per_pair": list(self.ratios),
            "min": self.min,
            "median": self.median,
            "max": self.max,
            "pairs": len(self.ratios),
            "reference": self.reference,
            "verdict": self.verdict,
        }


def summarize_ratios(ratios: Sequence[float], reference: float = 1.0) -> RatioSummary:
    """A :class:`RatioSummary` of per-pair ratios (at least one, all finite and positive).

    Raises:
        ValueError: On no ratios or a ratio that is not a positive finite number.
    """
    if not ratios:
        raise ValueError("no pairs: nothing was measured")
    bad = [r for r in ratios if not (r > 0 and r != float("inf"))]
    if bad:
        raise ValueError(f"ratios must be positive and finite, got {bad}")
    return RatioSummary(tuple(float(r) for r in ratios), reference)
