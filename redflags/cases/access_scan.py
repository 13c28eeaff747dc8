"""C8 (unauthorized access to or use of customer account information) detected from the access log.

The registry writes an ``access.view_member`` / ``access.reveal`` audit row for every staff view and
reveal of a member's record (members/services/access.py). A periodic scan (``access_anomaly_scan``,
Celery beat ``redflags.access_anomaly_scan``) reads one window of those rows with two set-based
statements and finds, per staff member:

* **volume**: far more distinct records than the norm of their role: more than ``multiple_of_role_norm``
  times the role's median distinct records per staff member and day over the last ``baseline_days``
  (kept by this scan in ``AccessDailyCount``; ``default_role_norm`` until a baseline exists), and at
  least ``minimum_records``;
* **no open work**: at least ``unworked_records`` records viewed or revealed where the staff member did
  nothing else on the record (no change, no caller verification within a day before the access to the
  window's end) and the member has no open review item or case.

One pass reads the window's rows (and the day before, for the work) into per staff-and-record pairs in a
temporary table; both findings read the pairs.

The thresholds are the parameters of the active C8 rule version (defaults below), so the Program
Administrator tunes them through the rule lifecycle. Each finding is an ``AccessAnomaly`` (once per
staff member, kind and window: a re-run is a no-op); each record with no open work gets a C8
assessment through the engine, so it joins the member's case and the warning binds, unless one person
swept more than ``max_member_alerts`` records: then, like volume findings, the finding (with every
record's id) stands in the Program Administrator's list, because thousands of per-member alerts would
drown the inbox.
"""

from __future__ import annotations

import datetime
import statistics
import uuid

from django.db import connection, transaction
from django.utils import timezone

from members.audit import audit_record
from redflags.cases.models import AccessAnomaly, AccessDailyCount
from redflags.events import ACCESS_ANOMALY, Event
from redflags.models import RuleVersion

C8 = "C8_UNAUTHORIZED_ACCESS"
DEFAULTS = {
    "window_hours": 24,
    "baseline_days": 30,
    "multiple_of_role_norm": 3.0,
    "minimum_records": 50,
    "default_role_norm": 40,
    "unworked_records": 10,
    "max_member_alerts": 100,
}
ACCESS_ACTIONS = ("access.view_member", "access.reveal")

# One pass over the window (and the day before it, for the work done on each record): per staff member
# and record, whether it was viewed/revealed in the window and whether other work was done on it. The
# pairs go to a temporary table the two findings read (rows of a day's log -> pairs of staff x record).
_PAIRS_SQL = (
    "CREATE TEMPORARY TABLE c8_pairs ON COMMIT DROP AS "
    "SELECT a.actor_id, a.object_id::bigint AS member_id, "
    "bool_or(a.action IN ('access.view_member', 'access.reveal') AND a.at >= %s) AS accessed, "
    "bool_or(a.action NOT LIKE 'access.%%') AS worked "
    "FROM members_auditevent a WHERE a.at >= %s AND a.at < %s AND a.object_type = 'members.member' "
    "AND a.actor_id IS NOT NULL AND a.object_id <> '' GROUP BY a.actor_id, a.object_id"
)
_PER_STAFF_SQL = "SELECT actor_id, count(*) FROM c8_pairs WHERE accessed GROUP BY actor_id"
_ROLES_SQL = (
    "SELECT ug.user_id, min(g.name) FROM members_user_groups ug JOIN auth_group g ON g.id = ug.group_id "
    "WHERE ug.user_id = ANY(%s) GROUP BY ug.user_id"
)
# Records accessed with no open work: nothing else done on the record by the same person from a day
# before the window to its end, no caller verification by them, and no open review item or case. The
# exclusions are NOT IN over small sets (hashed once, whatever the statistics say: a million pairs
# probed with nested loops or sorted for merge joins was most of the scan); the ids are sorted in Python.
_UNWORKED_SQL = (
    "SELECT p.actor_id, array_agg(p.member_id) FROM c8_pairs p "
    "WHERE p.accessed AND NOT p.worked "
    "AND (p.actor_id, p.member_id) NOT IN (SELECT c.staff_id, c.member_id FROM redflags_callerverificationattempt c "
    "WHERE c.at >= %s AND c.at < %s AND c.staff_id IS NOT NULL AND c.member_id IS NOT NULL) "
    "AND p.member_id NOT IN (SELECT r.member_id FROM redflags_reviewitem r WHERE r.status = 'open' "
    "AND r.member_id IS NOT NULL) "
    "AND p.member_id NOT IN (SELECT k.member_id FROM redflags_cases_case k WHERE k.status <> 'resolved' "
    "AND k.member_id IS NOT NULL) "
    "GROUP BY p.actor_id HAVING count(*) >= %s"
)


def c8_parameters() -> tuple[RuleVersion | None, dict]:
    version = RuleVersion.objects.filter(rule__code=C8, status=RuleVersion.Status.ACTIVE).first()
    given = version.parameters if version is not None else {}
    return version, {key: type(default)(given.get(key, default)) for key, default in DEFAULTS.items()}


def _role_norms(roles: set[str], *, before: datetime.date, days: int, default: float) -> dict[str, float]:
    since = before - datetime.timedelta(days=days)
    counts: dict[str, list[int]] = {role: [] for role in roles}
    rows = AccessDailyCount.objects.filter(role__in=roles, day__gte=since, day__lt=before).values_list(
        "role", "records"
    )
    for role, records in rows:
        counts[role].append(records)
    return {role: float(statistics.median(values)) if values else float(default) for role, values in counts.items()}


def access_anomaly_scan(*, end: datetime.datetime | None = None) -> dict:
    """Scan one window of the access log ending at ``end`` (default: now). Returns counts only."""
    # Imported here: the assessments module imports this package's services (see services/review.py).
    from redflags.services.assessments import event_assess

    version, params = c8_parameters()
    end = end or timezone.now()
    start = end - datetime.timedelta(hours=params["window_hours"])
    work_since = start - datetime.timedelta(days=1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL work_mem = '256MB'"
        )  # the pairs' hash aggregate stays in memory (~150 MB at 800,000 pairs)
        cursor.execute("DROP TABLE IF EXISTS c8_pairs")  # inside a caller's transaction, a previous scan's
        cursor.execute(_PAIRS_SQL, [start, work_since, end])
        # Without statistics the planner took the pairs for a few thousand rows and sorted all of them
        # for a merge anti-join (most of the scan's time at a million rows); with them, hash anti-joins.
        cursor.execute("ANALYZE c8_pairs")
        cursor.execute(_PER_STAFF_SQL)
        per_staff = dict(cursor.fetchall())
        cursor.execute(_ROLES_SQL, [list(per_staff)])
        roles = dict(cursor.fetchall())
        cursor.execute(_UNWORKED_SQL, [work_since, end, params["unworked_records"]])
        unworked = dict(cursor.fetchall())
        cursor.execute("DROP TABLE c8_pairs")
    day = timezone.localdate(start)
    norms = _role_norms(
        {roles.get(staff, "") for staff in per_staff},
        before=day,
        days=params["baseline_days"],
        default=params["default_role_norm"],
    )
    found = {"staff_scanned": len(per_staff), "volume": 0, "no_open_work": 0, "members_flagged": 0}
    with transaction.atomic():
        for staff, records in per_staff.items():
            AccessDailyCount.objects.update_or_create(
                staff_id=staff, day=day, defaults={"role": roles.get(staff, ""), "records": records}
            )
        for staff, records in per_staff.items():
            norm = norms[roles.get(staff, "")]
            if records >= params["minimum_records"] and records > params["multiple_of_role_norm"] * norm:
                _, created = _anomaly(
                    staff, AccessAnomaly.Kind.VOLUME, start, end, roles, records, norm, [], params, version
                )
                found["volume"] += created
        anomalies = []
        for staff, member_ids in unworked.items():
            anomaly, created = _anomaly(
                staff,
                AccessAnomaly.Kind.NO_OPEN_WORK,
                start,
                end,
                roles,
                per_staff[staff],
                None,
                sorted(member_ids),
                params,
                version,
            )
            found["no_open_work"] += created
            if created:
                anomalies.append(anomaly)
        audit_record(
            actor=None,
            actor_label="system:redflags.access_anomaly_scan",
            action="redflags.access_anomaly_scan",
            object_type="redflags_cases.accessanomaly",
            detail={**found, "window_start": start.isoformat(), "window_end": end.isoformat()},
        )
    for anomaly in anomalies:
        if len(anomaly.member_ids) > params["max_member_alerts"]:
            continue  # a sweep of thousands of records: one finding for the Program Administrator
        for member_id in anomaly.member_ids:
            key = uuid.uuid5(uuid.NAMESPACE_URL, f"memberguard:access_anomaly:{anomaly.pk}:{member_id}")
            event = Event(
                name=ACCESS_ANOMALY,
                member_id=member_id,
                payload={"anomaly_id": anomaly.pk, "staff": anomaly.staff.get_username(), "kind": anomaly.kind},
            )
            if event_assess(event=event, key=key) is not None:
                found["members_flagged"] += 1
    return found


def _anomaly(staff, kind, start, end, roles, records, norm, member_ids, params, version) -> tuple[AccessAnomaly, bool]:
    return AccessAnomaly.objects.get_or_create(
        staff_id=staff,
        kind=kind,
        window_start=start,
        defaults={
            "window_end": end,
            "role": roles.get(staff, ""),
            "records": records,
            "role_norm": norm,
            "member_ids": member_ids,
            "parameters": params,
            "rule_version": version,
        },
    )
