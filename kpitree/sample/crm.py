"""Raw CRM exports for the example trees (``kpitree sample-data --crm DIR``): CSV files shaped like
what Salesforce, HubSpot, a product-analytics tool and Stripe export, with their quirks kept:
Z-suffixed timestamps, date-only columns, text booleans, blank amounts, ids that are strings.

Three months up to ``end``; deterministic for a seed. Planted in the last month, against the one
before, for the example trees' reports to find:

* LATAM's own win rate halves (its share of closed deals does not move): a *rate* effect;
* partner leads wait about twice as long for their first touch;
* the October newsletter's opens fall;
* Starter accounts stop using the reporting feature;
* eight customers churn mid-month (expansion, as in every month, does not make up for it);
* one rep (005000000000004AAA) stops logging calls.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

from kpitree.load import load_file
from kpitree.warehouse import Warehouse

REGIONS: Final = ("NA", "EMEA", "APAC", "LATAM")
SEGMENTS: Final = ("SMB", "Mid-market", "Enterprise")
PLANS: Final = ("Starter", "Growth", "Enterprise")
# The sources in turn, 40/20/15/25 in every twenty leads.
LEAD_MIX: Final = ("Web", "Partner", "Outbound", "Web", "Event") * 3 + ("Web", "Partner", "Outbound", "Web", "Outbound")
# Each rep's tasks in turn: four calls, four emails and two meetings in every ten.
TASK_MIX: Final = ("Call", "Email", "Call", "Meeting", "Email", "Call", "Email", "Call", "Email", "Meeting")
QUIET_REP: Final = "005000000000004AAA"
# Each export and the warehouse table it loads into (the example trees read these tables).
FILES: Final = {
    "Account.csv": "sf_account",
    "User.csv": "sf_user",
    "Lead.csv": "sf_lead",
    "Opportunity.csv": "sf_opportunity",
    "Task.csv": "sf_task",
    "email_events.csv": "hubspot_email_events",
    "product_events.csv": "product_events",
    "subscription_items.csv": "stripe_subscription_items",
}


@dataclass(frozen=True)
class CrmSpec:
    seed: int = 7  # as `kpitree sample-data` defaults
    accounts: int = 160
    leads_per_month: int = 400
    end: str = "2026-10"

    @property
    def months(self) -> tuple[date, date, date]:
        year, month = (int(part) for part in self.end.split("-"))
        last = date(year, month, 1)
        middle = (last - timedelta(days=1)).replace(day=1)
        first = (middle - timedelta(days=1)).replace(day=1)
        return first, middle, last


def load_crm_exports(folder: Path, warehouse: Warehouse) -> dict[str, int]:
    """Load each export into its table as ``kpitree load --no-contract --infer-types`` does: the
    rows as they are, each column typed as the whole file reads (no aggregation, no cleaning)."""
    return {
        table: load_file(folder / name, table, warehouse, use_contract=False, infer_types=True).loaded
        for name, table in FILES.items()
    }


def write_crm_exports(spec: CrmSpec, folder: Path) -> dict[str, int]:
    """Write every export into ``folder``; rows per file."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = _Generator(spec).tables()
    counts = {}
    for name in FILES:
        table = rows[name]
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
        counts[name] = len(table)
    return counts


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # Salesforce's and HubSpot's UTC form


def _sf_id(prefix: str, number: int) -> str:
    return f"{prefix}{number:012d}AAA"


class _Generator:
    def __init__(self, spec: CrmSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.first, self.middle, self.last = spec.months
        self.start = datetime(self.first.year, self.first.month, 1, tzinfo=UTC)
        self.planted = datetime(self.last.year, self.last.month, 1, tzinfo=UTC)
        end_year, end_month = (self.last.year + self.last.month // 12, self.last.month % 12 + 1)
        self.end = datetime(end_year, end_month, 1, tzinfo=UTC)
        self.quotas: dict[tuple[str, ...], float] = {}
        self.turns: dict[str, int] = {}

    def quota(self, chance: float, *group: str) -> bool:
        """True for a share ``chance`` of the calls with this group, as evenly as can be (not at random):
        a planted movement is then the signal, not lost in sampling noise at the sample's small size."""
        filled = self.quotas.setdefault(group, self.rng.random()) + chance
        self.quotas[group] = filled % 1.0
        return filled >= 1.0

    def turn(self, key: str, cycle: int) -> int:
        """The next of ``cycle`` turns for ``key``, from a seeded start: a steady mix, not a random one."""
        turn = self.turns.setdefault(key, self.rng.randrange(cycle))
        self.turns[key] = (turn + 1) % cycle
        return turn

    def moment(self, after: datetime, before: datetime) -> datetime:
        span = int((before - after).total_seconds())
        return after + timedelta(seconds=self.rng.randrange(span))

    def tables(self) -> dict[str, list[dict[str, str]]]:
        accounts = self.accounts()
        users = self.users()
        leads, tasks = self.leads_and_tasks(users)
        return {
            "Account.csv": accounts,
            "User.csv": users,
            "Lead.csv": leads,
            "Opportunity.csv": self.opportunities(accounts, users),
            "Task.csv": tasks,
            "email_events.csv": self.email_events(),
            "product_events.csv": self.product_events(accounts),
            "subscription_items.csv": self.subscriptions(accounts),
        }

    def accounts(self) -> list[dict[str, str]]:
        return [
            {
                "Id": _sf_id("001", i),
                "Name": f"Account {i:03d}",
                "Region__c": REGIONS[i % len(REGIONS)],
                "Segment__c": self.rng.choice(SEGMENTS),
                "Plan__c": PLANS[i % len(PLANS)],
            }
            for i in range(self.spec.accounts)
        ]

    def users(self) -> list[dict[str, str]]:
        return [
            {
                "Id": _sf_id("005", i),
                "Name": f"Rep {i}",
                "Email": f"rep{i}@example.com",
                "IsActive": "true",
                "Region__c": REGIONS[i % len(REGIONS)],
            }
            for i in range(8)
        ]

    def leads_and_tasks(self, users: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        leads: list[dict[str, str]] = []
        tasks: list[dict[str, str]] = []
        number = 0
        for month_start, month_end in self.month_bounds():
            for _ in range(self.spec.leads_per_month):
                created = self.moment(month_start, month_end)
                source = LEAD_MIX[self.turn("source", len(LEAD_MIX))]
                rate = {"Web": 0.25, "Partner": 0.35, "Event": 0.15, "Outbound": 0.1}[source]
                converted = self.quota(rate, "converted", source, f"{month_start:%Y-%m}")
                lead_id = _sf_id("00Q", number)
                number += 1
                leads.append(
                    {
                        "Id": lead_id,
                        "CreatedDate": _stamp(created),
                        "LeadSource": source,
                        "Status": "Converted" if converted else self.rng.choice(["Open", "Working", "Disqualified"]),
                        "IsConverted": "true" if converted else "false",
                        "ConvertedDate": (created + timedelta(days=self.rng.randrange(1, 20))).date().isoformat()
                        if converted
                        else "",
                        "OwnerId": self.rng.choice(users)["Id"],
                    }
                )
                if not self.quota(0.85, "touched", f"{month_start:%Y-%m}"):
                    continue  # never touched: no first touch, no response time
                slow = 2.0 if source == "Partner" and created >= self.planted else 1.0
                # Exponential, mean 6 hours, drawn stratified per source (each tenth of the
                # distribution in turn) so that a month's median moves with the plant, not by chance.
                tail = (self.turn(f"wait {source}", 10) + self.rng.random()) / 10
                first = created + timedelta(hours=-6 * math.log(1 - tail) * slow + 0.1)
                for k in range(1 + self.turn("touches", 3)):
                    at = first + timedelta(hours=24 * k * self.rng.random())
                    tasks.append(self.task(len(tasks), lead_id, users, at, first_touch=k == 0))
        # Activity on accounts beyond the leads: the reps' daily calls, emails and meetings.
        for month_start, month_end in self.month_bounds():
            for _ in range(self.spec.leads_per_month):
                tasks.append(self.task(len(tasks), "", users, self.moment(month_start, month_end)))
        tasks = [
            t
            for t in tasks
            if not (t["OwnerId"] == QUIET_REP and t["Type"] == "Call" and t["CreatedDate"] >= _stamp(self.planted))
        ]
        return leads, tasks

    def task(
        self, number: int, who: str, users: list[dict[str, str]], at: datetime, *, first_touch: bool = False
    ) -> dict[str, str]:
        owner = users[number % len(users)]["Id"]  # in turn, and each rep's mix of types held steady
        return {
            "Id": _sf_id("00T", number),
            "WhoId": who,
            "OwnerId": owner,
            "Type": TASK_MIX[self.turn(owner, len(TASK_MIX))],
            "Status": "Completed" if first_touch or self.quota(0.9, "completed", owner) else "Open",
            "CreatedDate": _stamp(at),
        }

    def opportunities(self, accounts: list[dict[str, str]], users: list[dict[str, str]]) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        # Two deals per account a month, a quarter still open: each region's share of the closed deals
        # holds still, so a move in the won deals is a move in the win rate.
        deals = [(account, start, end) for start, end in self.month_bounds() for account in accounts for _ in "ab"]
        for number, (account, month_start, month_end) in enumerate(deals):
            close = self.moment(month_start, month_end).date()
            region, month = account["Region__c"], f"{month_start:%Y-%m}"
            win = 0.4 if not (region == "LATAM" and month_start >= self.planted) else 0.2
            if self.quota(0.25, "open", region, month):
                stage = "Negotiation"
            else:
                stage = "Closed Won" if self.quota(win, "won", region, month) else "Closed Lost"
            amount = round(self.rng.lognormvariate(9.5, 0.6), 2)
            rows.append(
                {
                    "Id": _sf_id("006", number),
                    "AccountId": account["Id"],
                    "OwnerId": self.rng.choice(users)["Id"],
                    "StageName": stage,
                    "IsClosed": "true" if stage.startswith("Closed") else "false",
                    "IsWon": "true" if stage == "Closed Won" else "false",
                    # A lost or open deal's amount is often left blank; a won one always has it.
                    "Amount": "" if stage != "Closed Won" and self.rng.random() < 0.3 else f"{amount:.2f}",
                    "CloseDate": close.isoformat(),
                }
            )
        return rows

    def email_events(self) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        for month_start, month_end in self.month_bounds():
            campaign = f"newsletter-{month_start:%Y-%m}"
            sent = month_start + timedelta(days=5, hours=9)
            open_rate = 0.12 if month_start >= self.planted else 0.28
            for r in range(600):
                email = f"{campaign}-{r}"
                recipient = f"contact{r}@example.org"
                rows.append(self.email_event(email, recipient, "SENT", sent, campaign))
                if self.rng.random() < 0.04:
                    rows.append(self.email_event(email, recipient, "BOUNCE", sent + timedelta(minutes=1), campaign))
                    continue
                rows.append(self.email_event(email, recipient, "DELIVERED", sent + timedelta(minutes=1), campaign))
                if self.quota(open_rate, "opened", campaign):
                    opened = self.moment(sent + timedelta(minutes=2), min(sent + timedelta(days=6), month_end))
                    # an email opened twice is one open; one read with images blocked leaves only its click
                    kind = "CLICK" if self.quota(0.1, "images blocked") else "OPEN"
                    for _ in range(self.rng.randrange(1, 3)):
                        rows.append(self.email_event(email, recipient, kind, opened, campaign))
        return [{"id": str(i), **row} for i, row in enumerate(rows)]

    def email_event(self, email: str, recipient: str, kind: str, at: datetime, campaign: str) -> dict[str, str]:
        return {"emailId": email, "recipient": recipient, "type": kind, "created": _stamp(at), "campaign": campaign}

    def product_events(self, accounts: list[dict[str, str]]) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        for month_start, month_end in self.month_bounds():
            for account in accounts:
                if self.rng.random() < 0.1:
                    continue  # inactive this month
                plan = account["Plan__c"]
                for _ in range(self.rng.randrange(1, 6)):
                    rows.append(self.product_event(len(rows), account, "login", self.moment(month_start, month_end)))
                adoption = {"Starter": 0.5, "Growth": 0.6, "Enterprise": 0.75}[plan]
                if plan == "Starter" and month_start >= self.planted:
                    adoption = 0.2
                if self.quota(adoption, "adopted", plan, f"{month_start:%Y-%m}"):
                    at = self.moment(month_start, month_end)
                    rows.append(self.product_event(len(rows), account, "report_created", at))
        return rows

    def product_event(self, number: int, account: dict[str, str], event: str, at: datetime) -> dict[str, str]:
        return {
            "event_id": f"evt_{number:07d}",
            "account_id": account["Id"],
            "plan": account["Plan__c"],
            "event": event,
            "timestamp": _stamp(at),
        }

    def subscriptions(self, accounts: list[dict[str, str]]) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        paying_most = [a for a in accounts if a["Plan__c"] != "Starter"]  # a churn that shows in the MRR
        churners = {a["Id"] for a in self.rng.sample(paying_most, 8)}
        for index, account in enumerate(accounts):
            customer = f"cus_{index:04d}"
            started = (self.start - timedelta(days=self.rng.randrange(30, 700))).date()
            ended = ""
            if account["Id"] in churners:
                ended = (self.planted + timedelta(days=14)).date().isoformat()
            elif self.rng.random() < 0.03:  # the usual trickle of churn, before the planted month
                ended = self.moment(self.start, self.planted).date().isoformat()
            base = {"Starter": 49.0, "Growth": 199.0, "Enterprise": 899.0}[account["Plan__c"]]
            rows.append(self.item(len(rows), customer, account["Plan__c"], base, started.isoformat(), ended))
            if not ended and self.rng.random() < 0.15:  # an add-on bought in one of the months: expansion
                added = self.moment(self.start, self.end).date().isoformat()
                rows.append(self.item(len(rows), customer, "Add-on", 99.0, added, ""))
        return rows

    def item(self, number: int, customer: str, plan: str, mrr: float, start: str, end: str) -> dict[str, str]:
        return {
            "id": f"si_{number:05d}",
            "customer": customer,
            "plan": plan,
            "mrr": f"{mrr:.2f}",
            "current_period_start": start,
            "ended_at": end,
        }

    def month_bounds(self) -> Iterator[tuple[datetime, datetime]]:
        starts = [datetime(m.year, m.month, 1, tzinfo=UTC) for m in (self.first, self.middle, self.last)]
        yield from zip(starts, [*starts[1:], self.end], strict=True)
