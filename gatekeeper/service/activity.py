"""The organisation's agent activity: figures from the audit trail, and its page behind the
same sign-in as the details pages, shown only to the organisation's members."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pygal
from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup
from pygal.style import Style

from gatekeeper.core.activity import parse_window, summarise
from gatekeeper.core.rules import with_cwe_name
from gatekeeper.github.client import OAuthUser
from gatekeeper.service.audit import AuditTrail, Store

bp = Blueprint("activity", __name__)
SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)
# no script, nothing fetched: styles inline (the page's and the charts'), nothing else
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"
STYLE = Style(background="white", plot_background="white", font_family="system-ui, sans-serif",
              colors=("#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#57606a"))


def organisation_report(store: Store, org: str, since: datetime, until: datetime) -> dict:
    """The figures for one organisation; only its pull requests' streams are read."""
    records = AuditTrail(store).organisation(org, since.timestamp())
    return {"organisation": org, **summarise(records, since, until)}


@bp.get("/orgs/<org>/activity")
def page(org: str):
    state = current_app.extensions["gatekeeper"]
    settings, store = state["settings"], state["backend"]
    if not settings.oauth_client_id:
        abort(503, "sign-in with GitHub is not configured (GITHUB_CLIENT_ID, "
                   "GITHUB_CLIENT_SECRET), so the activity page is not served")
    token = session.get("token")
    if not token:
        return redirect(url_for("details.login", next=request.full_path.rstrip("?")))
    if not OAuthUser(settings.github_api_url, token).is_member(org):
        abort(403, f"{session.get('login')} is not a member of {org}")
    try:
        since, until = parse_window(request.args.get("since", "30d"), request.args.get("until"),
                                    datetime.now(UTC))
    except ValueError as exc:
        abort(400, str(exc))
    report = organisation_report(store, org, since, until)
    page = make_response(render_template("activity.html", report=report,
                                         login=session.get("login"), charts=charts(report)))
    page.headers["Content-Security-Policy"] = POLICY
    return page


def charts(report: dict) -> list[Markup]:
    """The page's charts as inline SVG (no script, nothing fetched by the browser)."""
    days = report["days"]
    trend = pygal.Line(style=STYLE, title="Agent pull requests per day", height=320,
                       x_label_rotation=30, show_minor_x_labels=False, **_svg())
    trend.x_labels = [d["day"][5:] for d in days]
    trend.x_labels_major = trend.x_labels[::max(1, len(days) // 10)]
    for series in ("gated", "blocked", "approved", "with_attempts"):
        trend.add(series.replace("_", " "), [d[series] for d in days])
    stages = pygal.Bar(style=STYLE, title="Blocked, by what blocked them", height=320, **_svg())
    for name, count in report["blocked_by"].items():
        stages.add(name, [count])
    cwe = pygal.HorizontalBar(style=STYLE, title="Findings by CWE", height=320, **_svg())
    for name, count in list(report["findings"]["by_cwe"].items())[:12]:
        cwe.add(with_cwe_name(name), [count])
    agents = pygal.Bar(style=STYLE, title="Per agent", height=320, **_svg())
    agents.x_labels = [a["name"] for a in report["agents"]]
    for series in ("gated", "blocked", "approved"):
        agents.add(series, [a[series] for a in report["agents"]])
    for chart, values in ((trend, [d[k] for d in days
                                   for k in ("gated", "blocked", "approved", "with_attempts")]),
                          (stages, list(report["blocked_by"].values())),
                          (cwe, list(report["findings"]["by_cwe"].values())),
                          (agents, [a[k] for a in report["agents"]
                                    for k in ("gated", "blocked", "approved")])):
        top = max(values, default=0)
        if top:  # counts: whole numbers (pygal fails on labels for a chart without data)
            chart.y_labels = list(range(0, top + 1, max(1, top // 8)))
    # pygal adds a config <script> even without its JS: drop it, the page runs no script
    return [Markup(SCRIPT.sub("", chart.render(is_unicode=True)))
            for chart in (trend, stages, cwe, agents)]


def _svg() -> dict:
    return {"js": [], "disable_xml_declaration": True, "no_data_text": "nothing in this window",
            "width": 640}
