"""Prometheus metrics. Nothing derived from answers, no label naming a person (rule 1)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    """One registry per app, so tests can build several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "rutradar_events_total",
            "Inbound events handled",
            ["platform", "kind"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "rutradar_deliveries_total",
            "Outbound deliveries by result",
            ["platform", "result"],
            registry=self.registry,
        )
        # A send in doubt whose recovery lookup kept failing: "resend" or "fail" (rounds.md).
        self.recoveries = Counter(
            "rutradar_recovery_decisions_total",
            "Deliveries in doubt decided after their recovery lookups ran out",
            ["platform", "decision"],
            registry=self.registry,
        )
        # Inbound bodies refused as malformed (400), and a platform telling the app it is
        # being throttled (Slack `app_rate_limited`): by platform only.
        self.rejected = Counter(
            "rutradar_inbound_rejected_total",
            "Inbound requests refused as malformed",
            ["platform"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "rutradar_platform_rate_limited_total",
            "Rate-limit notices received from a platform",
            ["platform"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "rutradar_ready", "1 when the database is reachable and current", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
