"""Prometheus text metrics: counts and latencies only.

No metric has a label that names a person, a team member, a conversation or a client;
the only labels are fixed enumerations (frame type, error code, role).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable

__all__ = ["Metrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(_BUCKETS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(_BUCKETS, value)] += 1
        self.total += value
        self.n += 1


class Metrics:
    """Counters, histograms and callback gauges for one process."""

    def __init__(self) -> None:
        self._counters: dict[str, defaultdict[tuple[tuple[str, str], ...], int]] = {}
        self._help: dict[str, str] = {}
        self._hist: dict[str, _Histogram] = {}
        self._gauges: dict[str, Callable[[], float]] = {}
        self._series: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}

    def inc(self, name: str, help: str, amount: int = 1, **labels: str) -> None:
        self._help.setdefault(name, help)
        key = tuple(sorted(labels.items()))
        self._counters.setdefault(name, defaultdict(int))[key] += amount

    def observe(self, name: str, help: str, seconds: float) -> None:
        self._help.setdefault(name, help)
        self._hist.setdefault(name, _Histogram()).observe(seconds)

    def gauge(self, name: str, help: str, read: Callable[[], float]) -> None:
        self._help[name] = help
        self._gauges[name] = read

    def set_series(
        self, name: str, help: str, values: dict[tuple[tuple[str, str], ...], float]
    ) -> None:
        """A labelled gauge measured by the caller: its whole series, replaced."""
        self._help[name] = help
        self._series[name] = values

    def counter_value(self, name: str, **labels: str) -> int:
        series = self._counters.get(name)
        return series.get(tuple(sorted(labels.items())), 0) if series else 0

    def render(self) -> str:
        out: list[str] = []
        for name, series in sorted(self._counters.items()):
            out += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
            for key, value in sorted(series.items()):
                label = ",".join(f'{k}="{v}"' for k, v in key)
                out.append(f"{name}{{{label}}} {value}" if label else f"{name} {value}")
        for name, hist in sorted(self._hist.items()):
            out += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} histogram"]
            running = 0
            for bound, count in zip((*_BUCKETS, float("inf")), hist.counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                out.append(f'{name}_bucket{{le="{le}"}} {running}')
            out += [f"{name}_sum {hist.total}", f"{name}_count {hist.n}"]
        for name, gauges in sorted(self._series.items()):
            out += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} gauge"]
            for key, level in sorted(gauges.items()):
                label = ",".join(f'{k}="{v}"' for k, v in key)
                out.append(f"{name}{{{label}}} {level}" if label else f"{name} {level}")
        for name, read in sorted(self._gauges.items()):
            out += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} gauge", f"{name} {read()}"]
        return "\n".join(out) + "\n"
