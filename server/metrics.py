"""Prometheus metrics of this process, served at `GET /metrics`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

ACTIVE_SESSIONS = Gauge("confab_active_sessions", "Open WebSocket sessions", ["protocol"])
RESPONSES = Counter("confab_responses_total", "Responses by final status", ["status"])
TURN_STAGE_SECONDS = Histogram(
    "confab_turn_stage_seconds",
    "Time from the caller's speech end to each stage of a voice turn",
    ["stage"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0),
)


def observe_turn(stages_ms: dict[str, float]) -> None:
    """Record one voice turn's stage times."""
    for stage, ms in stages_ms.items():
        TURN_STAGE_SECONDS.labels(stage).observe(ms / 1000)


class _Speculation(Collector):
    """`confab_stt_speculative_total{outcome="run"|"dropped"}`, read from this process's STT when scraped."""

    source: Callable[[], dict[str, int]] | None = None

    def collect(self) -> Iterator[CounterMetricFamily]:
        """The current counts (nothing before speech models are loaded)."""
        if self.source is None:
            return
        family = CounterMetricFamily("confab_stt_speculative", "Speculative transcriptions run, or dropped before they started",
                                     labels=["outcome"])
        for outcome, count in self.source().items():
            family.add_metric([outcome], count)
        yield family


_SPECULATION = _Speculation()
REGISTRY.register(_SPECULATION)


def count_speculation(source: Callable[[], dict[str, int]]) -> None:
    """Report speculative transcriptions from `source` (the loaded STT's `speculation`)."""
    _SPECULATION.source = source


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, with its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
