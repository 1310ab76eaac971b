"""The sweep on a schedule: APScheduler 3's ``AsyncIOScheduler``, in the server process or
in ``chatserver retention worker``.

One job, coalescing (runs missed while the process was down or busy become one), at most
one instance at a time, no misfire grace limit, and a first run at start-up: after any
downtime the next start catches up with one sweep.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from retention.sweeper import Report, Sweeper

__all__ = ["SweepScheduler"]

log = logging.getLogger("retention.scheduler")


class SweepScheduler:
    def __init__(self, sweeper: Sweeper, interval_minutes: float) -> None:
        self.sweeper = sweeper
        self.interval = interval_minutes
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.runs = 0
        self.last: Report | None = None
        self._done = asyncio.Condition()
        self._running: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.scheduler.add_job(
            self._sweep,
            # Up to a tenth of the interval later each time: processes started together
            # would otherwise try at the same instants for ever, one always sweeping and
            # the others always refused.
            IntervalTrigger(minutes=self.interval, timezone=UTC, jitter=self.interval * 6),
            id="retention-sweep",
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        self.scheduler.start()

    async def stop(self) -> None:
        """No new sweeps; one in progress is interrupted (its batch transaction rolls
        back, and the next sweep does what it did not)."""
        self.scheduler.shutdown(wait=False)
        running = self._running
        if running is not None and not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    async def _sweep(self) -> None:
        self._running = asyncio.current_task()
        try:
            report = await self.sweeper.run()
        except asyncio.CancelledError:
            log.info("retention sweep interrupted by shutdown")
            return
        except Exception:
            log.exception("retention sweep failed")
            return
        finally:
            self._running = None
        if report.skipped:
            log.info("retention sweep skipped: another process holds the sweep lock")
        else:
            log.info(
                "retention sweep: %s in %d ms",
                report.counts or "nothing due",
                report.finished_at - report.started_at,
            )
        async with self._done:
            self.runs += 1
            self.last = report
            self._done.notify_all()

    async def wait_for(self, runs: int) -> Report | None:
        """Until ``runs`` sweeps have finished in this process (for tests and tools)."""
        async with self._done:
            await self._done.wait_for(lambda: self.runs >= runs)
            return self.last
