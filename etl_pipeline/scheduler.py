"""The ETL's cycles across processes: one at a time, elected, stored before they are answered.

With ETL_DISTRIBUTED=true a cycle is planned here and its shards handed to the ETL workers;
without, it runs in this process (`Pipeline.run`). Either way every ETL API replica and every
gunicorn worker has one scheduler; two MySQL named locks (`monitoring_core.leader.Leadership`)
decide who does what:
- "etl-scheduler": its holder runs the periodic cycles, the others are hot standbys that take
  over at their next tick (every ETL_INTERVAL_SECONDS) once the holder's connection is gone;
- "etl-cycle": held while a cycle runs, by the leader's tick or by a /regen_data on any
  replica, so that one cycle runs at a time across replicas; a replica that finds it held
  joins the running run (waits for its row in MySQL) instead.

A periodic cycle's run id is derived from its schedule slot (`sharding.slot_run_id`), and a run
found "running" while nobody holds the cycle lock is adopted (its scheduler died): a standby
that takes over never runs a slot's cycle twice. A cycle: the run record (running), one work
item per shard to the work topic, the run record again with the shard count, then the shard
statuses read from the status topic from the cycle's start until every shard is done, then the
run's timings and its record (complete, naming the retried shards: those started by more than
one worker), and the wait for data_storage to store it, so that a replica asked next answers it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from monitoring_core.kafka import KafkaUnavailable, make_consumer
from monitoring_core.leader import Leadership
from monitoring_core.messages import MessageError, ShardStatus, WorkItem, decode_as
from monitoring_core.prometheus import PrometheusUnavailable
from monitoring_core.settings import KafkaSettings, MySQLSettings

from .analysis import ForecastConfig
from .cycle import Pipeline
from .results import RunResult
from .sharding import shard_count, slot_run_id, slot_start, split, to_shard_query
from .store import RunStore, StoredRun

log = logging.getLogger(__name__)
# How long a finished run's record may take to reach MySQL through data_storage.
STORED_WAIT_SECONDS = 60.0
# The status topic is read from this long before the cycle's start: a status carries its
# worker's clock (CreateTime), which may run behind the scheduler's. Statuses of other runs
# read on the way are skipped by run id.
STATUS_LOOKBACK_SECONDS = 300.0


class CycleBusy(Exception):
    """Another replica (or thread) holds the cycle lock (its cycle's id: `RunStore.cycle`)."""


@dataclass
class ShardProgress:
    """The statuses of one run's shards read so far."""

    count: int
    started: dict[int, set[str]] = field(default_factory=dict)
    done: dict[int, ShardStatus] = field(default_factory=dict)
    failed: dict[int, ShardStatus] = field(default_factory=dict)

    def add(self, status: ShardStatus) -> None:
        if status.status == "started":
            self.started.setdefault(status.shard, set()).add(status.worker)
        elif status.status == "done":
            self.done.setdefault(status.shard, status)
            self.started.setdefault(status.shard, set()).add(status.worker)
        else:
            self.failed.setdefault(status.shard, status)

    @property
    def finished(self) -> bool:
        return len(self.done) >= self.count or bool(self.failed)

    @property
    def retried(self) -> list[int]:
        """Shards started by more than one worker (a worker died or left mid-shard)."""
        return sorted(shard for shard, workers in self.started.items() if len(workers) > 1)


class CycleScheduler:
    """Runs distributed cycles: elected for the periodic ones, one at a time across replicas."""

    def __init__(
        self,
        pipeline: Pipeline,
        kafka_settings: KafkaSettings,
        mysql_settings: MySQLSettings,
        store: RunStore,
        default_forecast: ForecastConfig,
    ) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self.kafka_settings = kafka_settings
        self.database = mysql_settings.database
        self.store = store
        self.default_forecast = default_forecast
        self.leadership = Leadership(mysql_settings, "etl-scheduler")
        self.cycle_lock = Leadership(mysql_settings, "etl-cycle")
        self._local = threading.Lock()  # one cycle per process; the MySQL lock across them
        self.clock = pipeline.clock

    def close(self) -> None:
        """Give both locks up (at shutdown), so that a standby takes over at once."""
        self.leadership.release()
        self.cycle_lock.release()

    def forecast(self) -> ForecastConfig:
        return self.store.forecast() or self.default_forecast

    # -- entry points -------------------------------------------------------------------

    def tick(self) -> RunResult | None:
        """The periodic cycle of this slot, if this replica leads and no cycle runs; adopts a
        run whose scheduler died. None when there was nothing to do here."""
        if not self.leadership.lead():
            return None
        slot = slot_start(self.clock(), self.settings.interval_seconds)
        run_id = slot_run_id(self.database, slot)
        try:
            return self.run_exclusive(lambda: self._scheduled(run_id))
        except CycleBusy:
            return None  # a /regen_data cycle runs elsewhere: it counts as this tick

    def _scheduled(self, run_id: str) -> RunResult | None:
        if self.store.run(run_id) is not None:
            return None  # this slot's cycle already ran (a former leader's)
        return self.cycle(run_id, self.forecast())

    def run_exclusive(
        self, work: Callable[[], RunResult | None], adopt: bool = True
    ) -> RunResult | None:
        """`work` holding the cycle lock, after adopting a run whose scheduler died (with
        `adopt`); raises CycleBusy when another replica or thread holds it."""
        if not self._local.acquire(blocking=False):
            raise CycleBusy("a cycle runs in this process")
        try:
            if not self.cycle_lock.lead():
                raise CycleBusy("another process holds the cycle lock")
            try:
                orphan = self.store.latest("running") if adopt else None
                if orphan is not None:
                    self.adopt(orphan)
                return work()
            finally:
                self.cycle_lock.release()
        finally:
            self._local.release()

    def run_now(self, forecast: ForecastConfig | None = None) -> RunResult:
        """A cycle now under a fresh run id (/regen_data; POST /forecasting, whose `forecast`
        is stored first, for the next cycles too); CycleBusy, and nothing stored, when one runs
        already. It adopts no orphan first: the caller waits for its own run only."""

        def work() -> RunResult:
            if forecast is not None:
                self.store.save_forecast(forecast, self.clock())
            return self.cycle(str(uuid.uuid4()), forecast or self.forecast())

        result = self.run_exclusive(work, adopt=False)
        assert result is not None
        return result

    def wait_stored(self, run_id: str, timeout: float = STORED_WAIT_SECONDS) -> StoredRun | None:
        """The run's row once data_storage stored its end and, for a complete run, every one
        of its results (the run record and the results travel on different partitions, maybe
        to different consumers); None, with a warning, when that took longer than `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.store.run(run_id)
            if run is not None and run.status != "running":
                expected = int(run.details.get("series_windows") or 0)
                if run.status != "complete" or self.store.stored_windows(run_id) >= expected:
                    return run
            if time.monotonic() >= deadline:
                log.warning(
                    "run %s: not all in MySQL after %.0fs (is data_storage running?)",
                    run_id,
                    timeout,
                )
                return None
            time.sleep(0.2)

    # -- one cycle ----------------------------------------------------------------------

    def cycle(self, run_id: str, forecast: ForecastConfig) -> RunResult:
        """Plan, publish the shards, wait for them (in this process, without ETL_DISTRIBUTED:
        `Pipeline.run`); then wait until data_storage stored the run's end, so that whoever
        asks next reads it from MySQL. Never raises (a failure is the result)."""
        self.store.save_cycle(run_id, self.clock())  # for the requests that join it
        run = self._hand_out if self.settings.distributed else self.pipeline.run
        result = run(run_id, forecast)
        result.stored = result.recorded and self.wait_stored(run_id) is not None
        return result

    def _hand_out(self, run_id: str, forecast: ForecastConfig) -> RunResult:
        """The distributed cycle: plan, one work item per shard, wait for every shard."""
        pipeline, publishing = self.pipeline, self.pipeline.publishing
        started = self.clock()
        clock0 = time.perf_counter()
        result = RunResult(
            run_id=run_id,
            status="running",
            started_at=started,
            end=pipeline.data_end(started),
            windows=list(pipeline.windows),
            forecast_metrics=list(forecast.metrics),
            horizon_minutes=forecast.horizon_minutes,
        )
        kafka_up = False
        try:
            publishing.check()
            publishing.publish_run(result)
            kafka_up = True
            result.stages["start"] = time.perf_counter() - clock0
            plan = pipeline.plan(result.end)
            result.stages["discover"] = plan.seconds
            result.skipped.extend(plan.skipped)
            result.series_cut = plan.series_cut
            count = shard_count(
                len(plan.queries), self.settings.shard_series, self.kafka_settings.work_partitions
            )
            items = [
                WorkItem(
                    run_id=run_id,
                    shard=index,
                    shard_count=count,
                    data_end=result.end,
                    forecast_metrics=list(forecast.metrics),
                    horizon_minutes=forecast.horizon_minutes,
                    queries=[to_shard_query(q) for q in shard],
                )
                for index, shard in enumerate(split(plan.queries, count))
            ]
            self._publish_work(items)
            result.shard_count = count
            publishing.publish_run(result)
            self._finish(result, clock0)
        except (PrometheusUnavailable, KafkaUnavailable) as exc:
            pipeline._fail(result, str(exc), unavailable=True, kafka_up=kafka_up)
        except Exception as exc:  # noqa: BLE001 - a cycle must never kill the scheduler
            log.exception("run %s failed", run_id)
            reason = f"internal error: {type(exc).__name__}: {exc}"[:300]
            pipeline._fail(result, reason, unavailable=False, kafka_up=kafka_up)
        result.stages["total"] = time.perf_counter() - clock0
        return result

    def adopt(self, run: StoredRun) -> RunResult:
        """Finish a run whose scheduler died: wait for its shards when they were all handed
        out (a shard done twice writes the same rows: every write is an upsert on the run's
        key); else record it failed and run the cycle again under a new id. A run older than
        ETL_SHARD_TIMEOUT_SECONDS is recorded failed."""
        details = run.details
        forecast = ForecastConfig(
            tuple(details.get("forecast_metrics") or ()),
            int(details.get("horizon_minutes") or self.default_forecast.horizon_minutes),
        )
        age = (self.clock() - run.started_at).total_seconds()
        if age > self.settings.shard_timeout_seconds or "data_end" not in details:
            log.warning("run %s was left running %.0fs ago: recorded failed", run.run_id, age)
            return self._abandon(run, "abandoned: its scheduler stopped")
        if run.shard_count is None:
            # Its scheduler died while handing out shards: some items may be on the work topic,
            # cut from a plan nobody recorded. Redone under the same id, their statuses could
            # pass for the new plan's shards; so the run is recorded failed, and the cycle
            # runs again under a new id.
            log.warning("run %s was left before its shards were all handed out", run.run_id)
            self._abandon(
                run, "abandoned: its scheduler stopped while handing out shards (run again)"
            )
            return self.cycle(str(uuid.uuid4()), forecast)
        log.warning("adopting run %s, left running by a scheduler that is gone", run.run_id)
        clock0 = time.perf_counter()
        result = RunResult(
            run_id=run.run_id,
            status="running",
            started_at=run.started_at,
            end=datetime.fromisoformat(details["data_end"]),
            windows=list(details.get("windows") or self.pipeline.windows),
            forecast_metrics=list(forecast.metrics),
            horizon_minutes=forecast.horizon_minutes,
            shard_count=run.shard_count,
            skipped=list(details.get("skipped") or []),
            series_cut=int(details.get("series_cut") or 0),
            stages=dict(details.get("stages") or {}),
        )
        try:
            self._finish(result, clock0)
        except KafkaUnavailable as exc:
            self.pipeline._fail(result, str(exc), unavailable=True, kafka_up=False)
        self.wait_stored(run.run_id)
        return result

    def _abandon(self, run: StoredRun, reason: str) -> RunResult:
        """Record a run whose scheduler died failed, with `reason`."""
        result = RunResult(run.run_id, "running", run.started_at, run.started_at, [], [], 0)
        self.pipeline._fail(result, reason, unavailable=False, kafka_up=True)
        return result

    def _publish_work(self, items: list[WorkItem]) -> None:
        partitions = self.kafka_settings.work_partitions
        report = self.pipeline.publishing.publisher.publish(
            items,
            topic=self.kafka_settings.work_topic,
            timeout=self.settings.publish_timeout_seconds,
            partition=lambda i: i % partitions,  # shards spread evenly over the partitions
        )
        if not report.complete:
            first = report.errors[0] if report.errors else "no answer"
            raise KafkaUnavailable(
                f"Kafka acknowledged {report.acked} of {report.sent} work items: {first}"
            )

    def _finish(self, result: RunResult, clock0: float) -> None:
        """Wait for every shard, then publish the run complete (or failed, with why)."""
        progress = self.wait_for_shards(result.run_id, result.shard_count or 0, result.started_at)
        result.retried_shards = progress.retried
        for status in progress.done.values():
            result.series_count += status.series_count
            result.message_count += status.message_count
            result.series_windows += status.series_windows
            result.skipped.extend(status.skipped)
        result.stages["shards"] = (
            time.perf_counter()
            - clock0
            - sum(result.stages.get(k, 0.0) for k in ("start", "discover"))
        )
        if progress.failed:
            first = progress.failed[min(progress.failed)]
            reason = f"shard {first.shard} failed on {first.worker}: {first.reason}"
            self.pipeline._fail(result, reason, unavailable=first.unavailable, kafka_up=True)
            return
        missing = sorted(set(range(progress.count)) - set(progress.done))
        if missing:
            reason = (
                f"{len(missing)} of {progress.count} shards not done within "
                f"{self.settings.shard_timeout_seconds:.0f}s (are ETL workers running?): "
                f"{missing[:20]}"
            )
            self.pipeline._fail(result, reason, unavailable=True, kafka_up=True)
            return
        if result.retried_shards:
            log.warning("run %s: shards retried on another worker: %s", result.run_id,
                        result.retried_shards)  # fmt: skip
        self.pipeline.publishing.publish_complete(result, clock0)

    def wait_for_shards(self, run_id: str, count: int, since: datetime) -> ShardProgress:
        """Read the status topic from `since` until all `count` shards are done, one failed,
        or ETL_SHARD_TIMEOUT_SECONDS passed."""
        progress = ShardProgress(count)
        if count == 0:
            return progress
        # Not a member of any group: it reads the one partition from the cycle's start and
        # commits nothing.
        consumer = make_consumer(self.kafka_settings, **{"group.id": f"etl-scheduler-{run_id}"})
        try:
            topic = self.kafka_settings.shard_status_topic
            lookback = since.timestamp() - STATUS_LOOKBACK_SECONDS
            start = TopicPartition(topic, 0, int(lookback * 1000))
            found = consumer.offsets_for_times([start], timeout=10)
            offset = found[0].offset if found and found[0].offset >= 0 else OFFSET_BEGINNING
            consumer.assign([TopicPartition(topic, 0, offset)])
            deadline = time.monotonic() + self.settings.shard_timeout_seconds
            while not progress.finished and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error():
                    log.warning("shard statuses: %s", message.error())
                    continue
                try:
                    status = decode_as(ShardStatus, message.value())
                except MessageError as exc:
                    log.warning("shard statuses: skipped a message: %s", exc)
                    continue
                if status.run_id == run_id and status.shard < count:
                    progress.add(status)
        finally:
            consumer.close()
        return progress
