"""Prometheus metrics. Nothing derived from answers, no label naming a person (rule 1)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Request latencies, in seconds: coarse on purpose (a bucket per request is all a scrape sees).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


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
        # Instead of a duration per request in the access log (privacy rule 4): counts and
        # latencies by route (the route's pattern, never the path as requested), method and
        # status. No label names a person, a workspace or a query.
        self.requests = Counter(
            "rutradar_http_requests_total",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rutradar_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scrub_pending = Gauge(
            "rutradar_rounds_scrub_pending",
            "Rounds closed whose scrub has not finished: their deleted answers may still be in "
            "the database's files (retried by every scheduler pass)",
            registry=self.registry,
        )
        self._answered: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._events: dict[tuple[str, str], Counter] = {}
        self.ready = Gauge(
            "rutradar_ready", "1 when the database is reachable and current", registry=self.registry
        )

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request answered: counted and timed. The labelled children are kept by
        their labels (a few routes, methods and statuses), so a request does not pay
        prometheus_client's label validation and locked lookup twice over."""
        key = (route, method, status)
        children = self._answered.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
            self._answered[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def event(self, platform: str, kind: str) -> None:
        """One inbound event handled, counted by platform and kind (a few of each): its
        labelled child kept, as `answered` keeps its own: prometheus_client's `labels` was a
        fortieth of a button press's CPU."""
        child = self._events.get((platform, kind))
        if child is None:
            child = self._events[(platform, kind)] = self.events.labels(platform, kind)
        child.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
