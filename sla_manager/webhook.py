"""Alerts on new violations, POSTed in Alertmanager's webhook format by a background thread.

What is new, per SLA metric and series, against the SLA's previous stored assessment:
- ``SLAViolation``: the latest violation episode began after the previous assessment's
  window end (with no previous assessment: the series is outside its range right now);
- ``SLAViolationLikely``: a violation is likely within the horizon and was not before.
Only firing alerts are sent; a receiver that needs them resolved can use the exported
``sla_*`` gauges instead.

Each alert is a `Transition` with a key that names the change itself (the episode's start,
or the assessment a forecast became likely after), so that the replica whose insert of that
key wins is the one that sends it (`SLAStore.save_assessments`, sql/011_sla_alerts.sql).

The receiver's URL may carry a token: logs show it redacted, and a failed attempt logs the
kind of error, not its text (which repeats the URL).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from monitoring_core.redact import redact_url

log = logging.getLogger(__name__)

RECEIVER = "sla_manager"
NEVER = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt for an alert without a known end
QUEUE_SIZE = 100


@dataclass(frozen=True)
class Transition:
    """One alert and the key of the change it reports, unique per SLA."""

    sla_id: int
    key: str
    alert: dict[str, Any]


def new_alerts(
    previous: dict[int, dict[str, Any]], results: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The Alertmanager alerts that ``results`` raise and the previous assessments did not."""
    return [transition.alert for transition in find_transitions(previous, results)]


def find_transitions(
    previous: dict[int, dict[str, Any]], results: list[dict[str, Any]]
) -> list[Transition]:
    """The alerts of `new_alerts`, each with the key of its transition: a violation is keyed
    by its episode's start (every replica that sees the episode computes the same), a likely
    violation by the previous assessment's window end (the state it changed from)."""
    alerts = []
    for result in results:
        sla = result["sla"]
        before = previous.get(sla["id"])
        seen = _series_by_key(before) if before else {}
        for metric in result["metrics"]:
            for series in metric["series"]:
                old = seen.get(_series_key(metric, series))
                labels = {
                    "sla": sla["name"],
                    "sla_id": str(sla["id"]),
                    "metric": metric["name"],
                    **{f"series_{k}": v for k, v in series["labels"].items()},
                }
                started = series["last_episode_start"]
                if before is None:
                    fresh = series["in_range_now"] is False
                else:
                    fresh = started is not None and _time(started) > _time(before["window_end"])
                series_id = series.get("series_id") or series["series"]
                if fresh:
                    starts = started or result["window_end"]
                    alerts.append(
                        _transition(
                            sla["id"],
                            (series_id, starts),
                            "SLAViolation",
                            labels,
                            starts,
                            f"{metric['name']} left its range [{metric['min']}, {metric['max']}]",
                            f"SLA {sla['name']}: {metric['promql']} is outside "
                            f"[{metric['min']}, {metric['max']}] since {started}",
                        )
                    )
                prediction = series["prediction"]
                was_likely = bool(old and old["prediction"]["likely"])
                if prediction["likely"] and not was_likely:
                    since = before["window_end"] if before else ""
                    alerts.append(
                        _transition(
                            sla["id"],
                            (series_id, since),
                            "SLAViolationLikely",
                            labels,
                            result["assessed_at"],
                            f"{metric['name']} is likely to leave its range",
                            f"SLA {sla['name']}: {metric['promql']} is forecast to leave "
                            f"[{metric['min']}, {metric['max']}] around "
                            f"{prediction['first_likely_violation']} (probability "
                            f"{prediction['exit_probability']:.2f} within "
                            f"{prediction['horizon_minutes']} minutes)",
                        )
                    )
    return alerts


def _transition(
    sla_id: int, mark: tuple[str, str], name: str, labels: dict[str, str], *alert: str
) -> Transition:
    # What the change is: the alert, the SLA metric, the series and its mark.
    change = (name, labels["metric"], *mark)
    key = hashlib.sha256("\x1f".join(change).encode()).hexdigest()
    return Transition(sla_id, key, _alert(name, labels, *alert))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _series_by_key(result: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        _series_key(metric, series): series
        for metric in result["metrics"]
        for series in metric["series"]
    }


def _series_key(metric: dict[str, Any], series: dict[str, Any]) -> tuple[str, str]:
    # By series_id (metric name and labels), not the label text alone: an expression may
    # return two series that differ only in their metric name.
    return metric["name"], series.get("series_id") or series["series"]


def _alert(name: str, labels: dict[str, str], starts_at: str, summary: str, text: str) -> dict:
    return {
        "status": "firing",
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": summary, "description": text},
        "startsAt": starts_at,
        "endsAt": NEVER,
        "generatorURL": "",
    }


def webhook_payload(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) around ``alerts``."""
    common = set.intersection(*(set(a["labels"].items()) for a in alerts)) if alerts else set()
    return {
        "version": "4",
        "groupKey": f"{{}}:{{receiver={RECEIVER!r}}}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": RECEIVER,
        "groupLabels": {},
        "commonLabels": dict(sorted(common)),
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": alerts,
    }


class Notifier:
    """Sends each batch of alerts, retrying with exponential backoff, off the API's path.

    ``send`` only queues (and drops the batch with a log line when the queue is full); one
    daemon thread, started on the first batch, does the POSTs and, after a 2xx answer, calls
    the batch's ``delivered`` (which marks its rows sent). A batch given up or dropped stays
    unsent in MySQL, and the assessment leader claims it again once `lease_seconds` passed.
    """

    def __init__(
        self, url: str, retries: int, backoff_seconds: float, timeout_seconds: float
    ) -> None:
        self.url = url
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self._queue: queue.Queue[tuple[dict[str, Any], Callable[[], None] | None]] = queue.Queue(
            QUEUE_SIZE
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sent = 0
        self.failed = 0

    @property
    def lease_seconds(self) -> float:
        """The longest one batch's delivery takes here: every attempt timing out and every
        backoff waited, plus a whole queue ahead of it, and a margin. Another replica claims
        the batch again only after this: a delivery under way is not repeated."""
        backoffs = sum(self.backoff_seconds * 2**attempt for attempt in range(self.retries))
        one = (self.retries + 1) * self.timeout_seconds + backoffs
        return one * 2 + 10

    def send(
        self, alerts: list[dict[str, Any]], delivered: Callable[[], None] | None = None
    ) -> None:
        try:
            self._queue.put_nowait((webhook_payload(alerts), delivered))
        except queue.Full:
            log.error("webhook queue full: %d alerts left for a later retry", len(alerts))
            self.failed += 1
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sla-webhook", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                payload, delivered = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            try:
                if self._deliver(payload) and delivered is not None:
                    delivered()
            except Exception:  # noqa: BLE001 - the thread must outlive one failed mark
                log.exception("webhook: marking a delivered batch failed (it may be sent again)")
            finally:
                self._queue.task_done()

    def _deliver(self, payload: dict[str, Any]) -> bool:
        for attempt in range(self.retries + 1):
            try:
                response = requests.post(self.url, json=payload, timeout=self.timeout_seconds)
                if response.status_code < 300:
                    self.sent += 1
                    return True
                problem = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                problem = type(exc).__name__
            log.warning(
                "webhook attempt %d to %s failed: %s", attempt + 1, redact_url(self.url), problem
            )
            if attempt < self.retries and self._stop.wait(self.backoff_seconds * 2**attempt):
                break
        self.failed += 1
        log.error("webhook gave up on %d alerts for now", len(payload["alerts"]))
        return False

    def join(self, timeout: float) -> bool:
        """Wait until every queued batch is delivered or given up (tests, shutdown)."""
        deadline = datetime.now(UTC).timestamp() + timeout
        while self._queue.unfinished_tasks:
            if datetime.now(UTC).timestamp() > deadline:
                return False
            self._stop.wait(0.05)
        return True

    def close(self) -> None:
        self._stop.set()
