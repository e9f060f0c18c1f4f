"""The console's audit log at ``/admin/audit``: filtered rows newest first, their export as
JSON Lines, and a check of the hash chain.

Routes join the console's blueprint, so ``access.gate`` guards them like every console page:
admins and auditors read. Checking the chain is a GET (a form with ``method="get"``): it
changes nothing, so it is a safe request (RFC 9110, 9.2.1) and the auditor, whose job it is,
may run it; the gate's POST rules (the admin role, a recent second factor) are for changes.
The check walks the whole chain, like ``idp audit verify``, so it runs only when asked.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, current_app, render_template, request, stream_with_context

from idp import audit
from idp.accounts import audit_log, event_text
from idp.clock import now
from idp.views.admin.console import bp

OUTCOMES = ("success", "failure")


@bp.route("/audit")
def audit_events():
    filters = audit_log.Filters.of(request.args)
    before = request.args.get("before", type=int)
    try:
        rows = audit_log.page(filters, before=before, limit=current_app.config["ADMIN_PAGE_SIZE"])
    except audit_log.FilterError as error:
        return _page(filters, error=str(error)), 400
    return _page(filters, rows=rows)


@bp.route("/audit/export")
def audit_export():
    filters = audit_log.Filters.of(request.args)
    try:
        lines = audit_log.export(filters)
    except audit_log.FilterError as error:
        return _page(filters, error=str(error)), 400
    stamp = datetime.fromtimestamp(now(), UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(
        stream_with_context(lines),
        mimetype="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.jsonl"'},
    )


@bp.route("/audit/verify")
def audit_verify():
    """The chain's report, above the rows from the one it names (the newest if none)."""
    report = audit.verify()
    before = report.first_broken + 1 if report.first_broken else None
    limit = current_app.config["ADMIN_PAGE_SIZE"]
    rows = audit_log.page(audit_log.Filters(), before=before, limit=limit)
    return _page(audit_log.Filters(), rows=rows, report=report)


def _page(filters, rows=None, error: str = "", report=None) -> str:
    return render_template(
        "admin/audit.html",
        filters=filters,
        page=rows,
        error=error,
        report=report,
        columns=audit_log.COLUMNS,
        events=event_text.known_events(),
        outcomes=OUTCOMES,
        pretty=audit_log.pretty,
    )
