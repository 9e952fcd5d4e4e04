"""Gauges read from the database when Prometheus scrapes: installs by state, drifted VMs,
stale nodes, readiness. A handful of aggregate queries on the read session per scrape; nothing
is kept between scrapes, so every API host reports the same numbers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Install, Node, Vm
from .metrics import PREFIX
from .readiness import Readiness

INSTALL_STATES = ("pending", "running", "done", "failed", "cancelled")


class InventoryCollector(Collector):
    def __init__(self, session: Session, stale_seconds: int, readiness: Readiness) -> None:
        self.session = session
        self.stale_seconds = stale_seconds
        self.readiness = readiness

    def describe(self) -> list[GaugeMetricFamily]:
        # Names only, so registering never runs the queries.
        return list(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ready, installs, drifted, oldest, stale, nodes_drifted, nodes_oldest = self._families()
        ready.add_metric([], 1.0 if self.readiness.ready else 0.0)
        yield ready
        if not self.readiness.ready:
            return  # the schema may not even exist; the inventory gauges are absent
        now = datetime.now(UTC)
        counts = dict(
            self.session.execute(select(Install.state, func.count()).group_by(Install.state)).all()
        )
        for state in INSTALL_STATES:
            installs.add_metric([state], counts.get(state, 0))
        yield installs
        count, since = self.session.execute(
            select(func.count(), func.min(Vm.updated_at)).where(
                Vm.requested_state_id != Vm.actual_state_id
            )
        ).one()
        drifted.add_metric([], count)
        oldest.add_metric([], (now - since).total_seconds() if since else 0.0)
        yield drifted
        yield oldest
        never, expired = self.session.execute(
            select(
                func.count().filter(Node.last_seen_at.is_(None)),
                func.count().filter(
                    Node.last_seen_at < now - timedelta(seconds=self.stale_seconds)
                ),
            )
        ).one()
        stale.add_metric(["never"], never)
        stale.add_metric(["expired"], expired)
        yield stale
        # Imported here: services.node_document imports this package (its build timer).
        from ..services import drift

        count, since = drift.drifted_count(self.session, now)
        nodes_drifted.add_metric([], count)
        nodes_oldest.add_metric([], (now - _aware(since)).total_seconds() if since else 0.0)
        yield nodes_drifted
        yield nodes_oldest

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(f"{PREFIX}_ready", "1 when /readyz would answer 200"),
            GaugeMetricFamily(f"{PREFIX}_installs", "Installs by state", labels=["state"]),
            GaugeMetricFamily(
                f"{PREFIX}_vms_drifted", "VMs whose actual state differs from the requested one"
            ),
            GaugeMetricFamily(
                f"{PREFIX}_vms_drift_oldest_seconds",
                "Seconds since the longest-drifted VM last changed (0 when none drifts)",
            ),
            GaugeMetricFamily(
                f"{PREFIX}_nodes_stale",
                "Nodes without a recent heartbeat: never sent one, or older than "
                "VIRTAPI_NODE_STALE_SECONDS",
                labels=["heartbeat"],
            ),
            GaugeMetricFamily(
                f"{PREFIX}_nodes_drifted",
                "Hosts whose node document changed after the one they last reported applying",
            ),
            GaugeMetricFamily(
                f"{PREFIX}_nodes_drift_oldest_seconds",
                "Seconds since the longest-drifted host's document changed (0 when none drifts)",
            ),
        )


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
