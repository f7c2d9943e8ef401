"""An independent computation of every node of every example tree (trees/examples), in plain Python
over the raw CRM export CSVs that ``kpitree sample-data --crm`` writes: what tests/test_examples.py
holds kpitree's SQL to, on each engine."""

from __future__ import annotations

import csv
import statistics
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path

Rows = list[dict[str, str]]
Values = dict[str, float | None]


class Month:
    def __init__(self, year: int, month: int) -> None:
        self.start = datetime(year, month, 1, tzinfo=UTC)
        self.end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def holds_day(self, day: date) -> bool:
        return self.start.date() <= day < self.end.date()


def read(folder: Path, name: str) -> Rows:
    with (folder / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def branches(rows: Rows, column: str, named: dict[str, str], other: str | None) -> dict[str, Rows]:
    """Rows per branch id: each named branch takes its value, ``other`` takes the rest (blank included)."""
    split: dict[str, Rows] = {branch: [] for branch in named}
    if other:
        split[other] = []
    for row in rows:
        branch = next((b for b, value in named.items() if row[column] == value), other)
        if branch is not None:
            split[branch].append(row)
    return split


def percentile(values: Iterable[float], p: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    rank = p * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def activity_per_rep(folder: Path, month: Month) -> Values:
    tasks = [t for t in read(folder, "Task.csv") if t["Status"] == "Completed" and month.holds(stamp(t["CreatedDate"]))]
    split = branches(tasks, "Type", {"calls": "Call", "emails": "Email", "meetings": "Meeting"}, "other_activities")
    reps = len({t["OwnerId"] for t in tasks})
    values: Values = {branch: float(len(rows)) for branch, rows in split.items()}
    values |= {"activities": float(len(tasks)), "active_reps": float(reps), "activity_per_rep": ratio(len(tasks), reps)}
    return values


SOURCE_BRANCHES = {"web": "Web", "partner": "Partner", "event": "Event"}


def lead_conversion(folder: Path, month: Month) -> Values:
    leads = [lead for lead in read(folder, "Lead.csv") if month.holds(stamp(lead["CreatedDate"]))]
    converted = [lead for lead in leads if lead["IsConverted"] == "true"]
    values: Values = {"converted_leads": float(len(converted)), "leads_created": float(len(leads))}
    named = {f"{b}_converted": v for b, v in SOURCE_BRANCHES.items()}
    values |= {b: float(len(r)) for b, r in branches(converted, "LeadSource", named, "other_converted").items()}
    named = {f"{b}_leads": v for b, v in SOURCE_BRANCHES.items()}
    values |= {b: float(len(r)) for b, r in branches(leads, "LeadSource", named, "other_leads").items()}
    values["lead_conversion_rate"] = ratio(len(converted), len(leads))
    return values


def _response_hours(folder: Path, month: Month) -> list[tuple[dict[str, str], float]]:
    first: dict[str, datetime] = {}
    for task in read(folder, "Task.csv"):
        if task["Status"] == "Completed" and task["WhoId"]:
            at = stamp(task["CreatedDate"])
            first[task["WhoId"]] = min(first.get(task["WhoId"], at), at)
    touched = []
    for lead in read(folder, "Lead.csv"):
        created = stamp(lead["CreatedDate"])
        if month.holds(created) and lead["Id"] in first:
            touched.append((lead, (first[lead["Id"]] - created).total_seconds() / 3600))
    return touched


def lead_response_time(folder: Path, month: Month) -> Values:
    touched = _response_hours(folder, month)
    values: Values = {"median_response_hours": percentile((h for _, h in touched), 0.5)}
    named = {f"{b}_response": v for b, v in SOURCE_BRANCHES.items()}
    for branch in [*named, "other_response"]:
        value = named.get(branch)
        hours = [
            h
            for lead, h in touched
            if (lead["LeadSource"] == value if value else lead["LeadSource"] not in named.values())
        ]
        values[branch] = statistics.median(hours) if hours else None
    return values


def lead_response_p90(folder: Path, month: Month) -> Values:
    return {"p90_response_hours": percentile((h for _, h in _response_hours(folder, month)), 0.9)}


REGION_BRANCHES = {"na": "NA", "emea": "EMEA", "apac": "APAC", "latam": "LATAM"}


def win_rate(folder: Path, month: Month) -> Values:
    region = {a["Id"]: a["Region__c"] for a in read(folder, "Account.csv")}
    closed = [
        {**o, "Region": region.get(o["AccountId"], "")}
        for o in read(folder, "Opportunity.csv")
        if o["IsClosed"] == "true" and month.holds_day(date.fromisoformat(o["CloseDate"]))
    ]
    won = [o for o in closed if o["IsWon"] == "true"]
    values: Values = {
        "won_deals": float(len(won)),
        "closed_deals": float(len(closed)),
        "win_rate": ratio(len(won), len(closed)),
    }
    values |= {
        b: float(len(r))
        for b, r in branches(won, "Region", {f"won_{k}": v for k, v in REGION_BRANCHES.items()}, None).items()
    }
    values |= {
        b: float(len(r))
        for b, r in branches(closed, "Region", {f"closed_{k}": v for k, v in REGION_BRANCHES.items()}, None).items()
    }
    return values


def email_open_rate(folder: Path, month: Month) -> Values:
    events = [e for e in read(folder, "email_events.csv") if month.holds(stamp(e["created"]))]
    opened = len({e["emailId"] for e in events if e["type"] in ("OPEN", "CLICK")})
    delivered = len({e["emailId"] for e in events if e["type"] == "DELIVERED"})
    return {
        "opened_emails": float(opened),
        "delivered_emails": float(delivered),
        "email_open_rate": ratio(opened, delivered),
    }


PLAN_BRANCHES = {"starter": "Starter", "growth": "Growth", "enterprise": "Enterprise"}


def feature_adoption(folder: Path, month: Month) -> Values:
    events = [e for e in read(folder, "product_events.csv") if month.holds(stamp(e["timestamp"]))]

    def accounts(event: str, plan: str | None = None) -> float:
        return float(
            len({e["account_id"] for e in events if e["event"] == event and (plan is None or e["plan"] == plan)})
        )

    values: Values = {"adopting_accounts": accounts("report_created"), "active_accounts": accounts("login")}
    for key, plan in PLAN_BRANCHES.items():
        values[f"adopting_{key}"] = accounts("report_created", plan)
        values[f"active_{key}"] = accounts("login", plan)
    values["feature_adoption_rate"] = ratio(values["adopting_accounts"], values["active_accounts"])
    return values


def _holding(folder: Path, day: date) -> Rows:
    return [
        item
        for item in read(folder, "subscription_items.csv")
        if date.fromisoformat(item["current_period_start"]) <= day
        and (not item["ended_at"] or day < date.fromisoformat(item["ended_at"]))
    ]


def logo_retention(folder: Path, month: Month) -> Values:
    start = {i["customer"] for i in _holding(folder, month.start.date())}
    end = {i["customer"] for i in _holding(folder, month.end.date())} & start
    return {
        "starting_customers": float(len(start)),
        "retained_customers": float(len(end)),
        "logo_retention": ratio(len(end), len(start)),
    }


def net_revenue_retention(folder: Path, month: Month) -> Values:
    at_start = _holding(folder, month.start.date())
    cohort = {i["customer"] for i in at_start}
    starting = sum(float(i["mrr"]) for i in at_start)
    retained = sum(float(i["mrr"]) for i in _holding(folder, month.end.date()) if i["customer"] in cohort)
    return {"starting_mrr": starting, "retained_mrr": retained, "net_revenue_retention": ratio(retained, starting)}


def revenue(folder: Path, month: Month) -> Values:
    won = [
        o
        for o in read(folder, "Opportunity.csv")
        if o["IsWon"] == "true" and month.holds_day(date.fromisoformat(o["CloseDate"]))
    ]
    amounts = [float(o["Amount"]) for o in won if o["Amount"]]
    average = statistics.fmean(amounts) if amounts else None
    return {
        "deals_won": float(len(won)),
        "average_deal_size": average,
        "revenue": None if average is None else len(won) * average,
    }


REFERENCE: dict[str, Callable[[Path, Month], Values]] = {
    "activity_per_rep": activity_per_rep,
    "lead_conversion": lead_conversion,
    "lead_response_time": lead_response_time,
    "lead_response_p90": lead_response_p90,
    "win_rate": win_rate,
    "email_open_rate": email_open_rate,
    "feature_adoption": feature_adoption,
    "logo_retention": logo_retention,
    "net_revenue_retention": net_revenue_retention,
    "revenue": revenue,
}
