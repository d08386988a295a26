"""The metric registry: the metrics a run can evaluate, the per-clip results the runner stores, how reports show them.

:data:`REGISTRY` maps a metric's name (as a run's ``evaluate`` section names it) to its accumulator, whose
``directions`` say which way every score goes. :data:`RESULTS` lists the per-clip results the runner stores under
its own keys (``deletion_auc``, ``pointing_hit``...), each tied to the accumulator score with the same meaning, so
the direction of every key is declared once, on the metric, plus what a report needs to show it: a column title,
the table it belongs to and its decimals. The runner's report (:mod:`vidxai.runner.report`) aggregates and shows
every registered key it finds, so a new result key needs one :func:`register_result` call and no report change::

    register_result("energy_on_actor", "pointing", None, "energy on the actor", table="pointing")
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .base import Metric
from .deletion import DeletionInsertion
from .localization import Localization
from .pointing import PointingGame
from .temporal import TemporalLocalization
from .timing import Timing

#: The metrics a run's ``evaluate`` section can name (and the runner's timing), with their accumulators.
REGISTRY: dict[str, type[Metric]] = {"deletion": DeletionInsertion, "localization": Localization,
                                     "pointing": PointingGame, "temporal": TemporalLocalization, "timing": Timing}


@dataclass(frozen=True)
class ResultKey:
    """A per-clip result the runner stores, and how reports show it.

    Attributes:
        key: the runner's name of the result (the array in a metric shard, the entry in ``report.json``).
        metric: the :data:`REGISTRY` metric that computes it.
        score: the key of the accumulator's score with the same meaning, which gives the direction; None for
            a value that is no score of the accumulator (a reference value such as the chance level, a frame index).
        title: its column title in reports.
        table: the report table that shows it (keys that share a table are columns of one table).
        digits: decimals shown.
    """

    key: str
    metric: str
    score: str | None
    title: str
    table: str
    digits: int = 3

    @property
    def higher_is_better(self) -> bool | None:
        """Which way the result goes (from the metric's ``directions``); None when it has no direction."""
        return REGISTRY[self.metric].directions.get(self.score) if self.score is not None else None


#: Every registered per-clip result, in the order reports list them.
RESULTS: dict[str, ResultKey] = {}


def register_result(key: str, metric: str, score: str | None, title: str, table: str = "", digits: int = 3
                    ) -> ResultKey:
    """Register (or replace) the per-clip result ``key`` of ``metric``; ``table`` defaults to the metric's name.

    Example::

        register_result("temporal_tiou", "temporal", "tiou", "temporal tiou", table="pointing")
    """
    if metric not in REGISTRY:
        raise KeyError(f"unknown metric {metric!r}; registered: {', '.join(REGISTRY)}")
    if score is not None and score not in REGISTRY[metric].directions:
        raise KeyError(f"{REGISTRY[metric].__name__} declares no direction for {score!r} "
                       f"(its directions: {', '.join(REGISTRY[metric].directions)})")
    RESULTS[key] = ResultKey(key, metric, score, title, table or metric, digits)
    return RESULTS[key]


def unregister_result(key: str) -> None:
    """Forget the result ``key`` (nothing happens when it is not registered)."""
    RESULTS.pop(key, None)


def result_keys(table: str | None = None) -> list[ResultKey]:
    """The registered results in report order, only those of ``table`` when given."""
    return [r for r in RESULTS.values() if table is None or r.table == table]


def higher_is_better(key: str) -> bool | None:
    """Which way a score goes, from the metric that defines it (a runner result key or ``metric.score``).

    None for a registered result without a direction (e.g. ``temporal_chance_mass``).

    Example::

        higher_is_better("deletion_auc")        # False (lower is better)
        higher_is_better("pointing.pointing_game")  # True
    """
    if key in RESULTS:
        return RESULTS[key].higher_is_better
    metric, score = key.split(".", 1)
    return REGISTRY[metric].directions[score]


class _ResultPairs(Mapping):
    """``{result key: (metric, score)}``, a live view of :data:`RESULTS`."""

    def __getitem__(self, key: str) -> tuple[str, str | None]:
        return RESULTS[key].metric, RESULTS[key].score

    def __iter__(self) -> Iterator[str]:
        return iter(RESULTS)

    def __len__(self) -> int:
        return len(RESULTS)


#: ``{runner result key: (metric, accumulator score)}`` (a view of :data:`RESULTS`).
RESULT_KEYS: Mapping[str, tuple[str, str | None]] = _ResultPairs()

# The built-in results: key, metric, accumulator score (None: no direction), column title, report table, digits.
# The temporal keys are in the order the report always showed them (by name).
for _spec in (
        ("deletion_auc", "deletion", "deletion_auc", "deletion", "deletion"),
        ("insertion_auc", "deletion", "insertion_auc", "insertion", "deletion"),
        ("combined", "deletion", "combined", "combined", "deletion"),
        ("seconds_per_clip", "timing", "seconds_per_clip", "seconds per clip", "timing", 4),
        ("pointing_hit", "pointing", "pointing_game", "pointing accuracy", "pointing"),
        ("energy_in_gt", "pointing", "energy_pointing", "energy in ground truth", "pointing"),
        ("energy_on_distractors", "pointing", None, "energy on distractors", "pointing"),
        ("temporal_chance_mass", "temporal", None, "temporal chance_mass", "pointing"),
        ("temporal_extent_end", "temporal", None, "temporal extent_end", "pointing"),
        ("temporal_extent_start", "temporal", None, "temporal extent_start", "pointing"),
        ("temporal_mass_in_interval", "temporal", "mass_in_interval", "temporal mass_in_interval", "pointing"),
        ("temporal_peak_hit", "temporal", "peak_hit", "temporal peak_hit", "pointing"),
        ("temporal_tiou", "temporal", "tiou", "temporal tiou", "pointing"),
        # the benchmark's mean held-out error over the threshold schemes (the runner's report has its own
        # localisation table, one column pair per scheme, from the per-clip IoUs)
        ("localization_error", "localization", "error", "localization error %", "localization", 1)):
    register_result(*_spec)
del _spec

__all__ = ["REGISTRY", "RESULTS", "RESULT_KEYS", "ResultKey", "register_result", "unregister_result", "result_keys",
           "higher_is_better"]
