"""HTTP endpoints of the anonymous statistics: a team's figures per day as JSON, as a CSV
download and as a server-rendered SVG bar chart. Admins and the team's supervisors only;
the figures come from ``chatserver.records.stats`` and name no conversation and no person."""

from __future__ import annotations

from aiohttp import web

from chatserver.protocol.errors import Forbidden, Malformed
from chatserver.records.stats import METRICS, Report, StatsError, team_report
from chatserver.storage.store import StaffRow
from chatserver.web.api.teams import team_of
from chatserver.web.guards import check_team_access, current_staff, now_ms
from chatserver.web.state import DB

ROLES = ("admin", "supervisor")


async def _reader(request: web.Request) -> StaffRow:
    staff, _token = await current_staff(request)
    if staff.role not in ROLES:
        raise Forbidden("only admins and supervisors may see statistics")
    return staff


async def _report(request: web.Request) -> Report:
    """The report the query asks for (``from``, ``to``), after the role and team checks."""
    staff = await _reader(request)
    team = await team_of(request)
    await check_team_access(request, staff, team.id)
    now = now_ms(request)
    try:
        async with request.app[DB].read() as conn:
            return await team_report(
                conn, team.id, team.slug, request.query.get("from"), request.query.get("to"), now
            )
    except StatsError as exc:
        raise Malformed(str(exc)) from None


def _filename(report: Report, ext: str) -> str:
    # Slugs and ISO dates only: nothing to quote.
    return f"stats-{report.team}-{report.first}-{report.last}.{ext}"


async def stats_json(request: web.Request) -> web.Response:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (default: the last 30 days up to today)."""
    return web.json_response((await _report(request)).to_json())


async def stats_csv(request: web.Request) -> web.Response:
    report = await _report(request)
    return web.Response(
        text=report.to_csv(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(report, "csv")}"'},
    )


async def stats_svg(request: web.Request) -> web.Response:
    """``?metric=started|accepted|...`` (default ``started``) as a bar chart per day."""
    report = await _report(request)
    metric = request.query.get("metric", "started")
    if metric not in METRICS:
        raise Malformed(f"metric is one of {', '.join(METRICS)}")
    return web.Response(
        text=report.to_svg(metric),
        content_type="image/svg+xml",
        charset="utf-8",
        headers={"Content-Disposition": f'inline; filename="{_filename(report, "svg")}"'},
    )


def add_stats_routes(app: web.Application) -> None:
    app.router.add_get("/api/teams/{slug}/stats", stats_json)
    app.router.add_get("/api/teams/{slug}/stats.csv", stats_csv)
    app.router.add_get("/api/teams/{slug}/stats.svg", stats_svg)
