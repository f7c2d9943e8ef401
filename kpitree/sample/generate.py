"""A realistic, deterministic sample warehouse, generated in SQL by DuckDB (so 10 million rows take
seconds, not minutes).

Twelve months up to the end of ``end`` (a month): accounts with segments, motions and CSMs;
contacts; reps with daily selling and admin hours; activities across channels, with internal notes,
automated system events and duplicate sync entries mixed in (the tree must exclude all three);
engagement signals; and renewal outcomes that follow engagement. Every random choice is a hash of
(seed, row), so a seed and a size always give the same data with a given DuckDB version.

Planted movements, for attribution and alerts to find in the last month:

* SMB calls fall by about 45% (an inside-sales dialer outage): call touches drop;
* a CRM migration in the SMB team in EMEA: its reps spend 4 of their selling hours a day on admin,
  so selling hours per rep drop, and a drill by team and region names that one cell;
* one rep (rep-000) is away all month: reps active drops by one;
* product usage of the accounts of one CSM (felix.berg@example.com) collapses in the last four
  weeks: their contacts slide down the engagement bands, routed to that CSM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from kpitree.periods import Calendar, Grain, Period, add_months
from kpitree.progress import SILENT, Progress

SAMPLE_TIMEZONE = "Europe/London"
CSMS = ("noor.haddad@example.com", "felix.berg@example.com", "grace.liu@example.com", "omar.diallo@example.com")
SLIDING_CSM = CSMS[1]
# The true model behind the sample's outcomes: log-odds of renewing per decayed signal (per minute
# for app_minutes). Calibration tests and the demo compare what 'kpitree calibrate' finds with it.
OUTCOME_WEIGHTS = {
    "meeting_attended": 2.5,
    "login": 1.2,
    "reply": 1.0,
    "feature_used": 0.9,
    "intent_surge": 0.8,
    "pricing_page_view": 0.5,
    "content_download": 0.3,
    "support_contact": 0.15,
    "email_click": 0.15,
    "app_minutes": 0.015,
    "email_open": 0.05,
}
OUTCOME_INTERCEPT = -1.2
OUTCOME_HALF_LIFE_DAYS = 30
OUTCOME_LAG_DAYS = 60  # the decision follows the engagement of two months before it
TABLES = ("accounts", "contacts", "reps", "rep_capacity", "activities", "signals", "outcomes")
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
# The planted cell: the one (team, region) whose reps lose selling hours in the last month.
MIGRATING = ("SMB", "EMEA")
MIGRATION_HOURS = 4.0


@dataclass(frozen=True)
class SampleSpec:
    seed: int = 7
    activities: int = 60_000  # roughly: touches before exclusions are added and planted drops taken
    end: str = "2026-10"  # the last month generated
    contact_count: int | None = None  # default: one contact per 40 activities

    @property
    def contacts(self) -> int:
        return self.contact_count or max(200, self.activities // 40)

    @property
    def accounts(self) -> int:
        return max(24, self.contacts // 12)

    @property
    def reps(self) -> int:
        return max(6, round(self.activities / 3000))

    @property
    def signals(self) -> int:
        return 2 * self.activities

    def months(self) -> tuple[Period, Period]:
        """(the twelve months covered, the last month)."""
        calendar = Calendar.of(SAMPLE_TIMEZONE)
        last = calendar.parse(self.end)
        if last.grain is not Grain.MONTH:
            raise ValueError(f"end must be a month like 2026-10, got {self.end!r}")
        first = calendar.shift(last, -11)
        return Period(first.start, last.end, Grain.CUSTOM), last


def play_start(spec: SampleSpec) -> date:
    """The Monday the sample's interventions start: on or after the first of the month two months
    before the last (2026-08-03 for a sample ending 2026-10), so that an eight-week window and its
    eight-week pre-period both end before the last month's planted drops."""
    _covered, last = spec.months()
    first = add_months(last.start, -2)
    return first + timedelta(days=(7 - first.weekday()) % 7)


def generate(connection: duckdb.DuckDBPyConnection, spec: SampleSpec, progress: Progress = SILENT) -> dict[str, int]:
    """Create (or replace) the sample tables in ``connection``; row counts by table."""
    covered, last = spec.months()
    params = _Params(spec, covered.start, covered.end, last.start)
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("CREATE OR REPLACE TEMP MACRO u(s, a, b, c) AS (hash(s, a, b, c) % 1000003) / 1000003.0")
    statements = _statements(params)
    progress.stage("generating the sample tables", total=len(statements))
    for statement in statements:
        connection.execute(statement)
        progress.advance()
    connection.execute("DROP TABLE IF EXISTS rep_plan")
    return {t: int(connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}  # type: ignore[index]


@dataclass(frozen=True)
class _Params:
    spec: SampleSpec
    start: date
    end: date
    last_start: date


def _statements(p: _Params) -> list[str]:
    s, tz = p.spec.seed, SAMPLE_TIMEZONE
    start, end, last = f"DATE '{p.start}'", f"DATE '{p.end}'", f"DATE '{p.last_start}'"
    csms = ", ".join(f"'{c}'" for c in CSMS)
    regions = "[" + ", ".join(f"'{r}'" for r in REGIONS) + "]"
    play = f"DATE '{play_start(p.spec)}'"
    true_weights = " ".join(f"WHEN '{signal}' THEN {weight}" for signal, weight in OUTCOME_WEIGHTS.items())
    return [
        f"""CREATE OR REPLACE TABLE accounts AS
        SELECT printf('acc-%05d', i) AS account_id, printf('Account %d', i) AS name,
               CASE WHEN u({s}, i, 0, 'seg') < 0.60 THEN 'SMB'
                    WHEN u({s}, i, 0, 'seg') < 0.88 THEN 'Mid-market' ELSE 'Enterprise' END AS segment,
               CASE WHEN u({s}, i, 0, 'motion') < 0.2 THEN 'inbound' ELSE 'outbound' END AS motion,
               [{csms}][1 + (i % {len(CSMS)})] AS csm_email
        FROM range({p.spec.accounts}) t(i)""",
        f"""CREATE OR REPLACE TABLE contacts AS
        SELECT c.*, row_number() OVER (PARTITION BY a.segment ORDER BY c.contact_no) - 1 AS seg_rank, a.segment
        FROM (SELECT i AS contact_no, printf('con-%06d', i) AS contact_id,
                     printf('acc-%05d', CAST(floor(u({s}, i, 0, 'acct') * {p.spec.accounts}) AS BIGINT)) AS account_id
              FROM range({p.spec.contacts}) t(i)) c
        JOIN accounts a USING (account_id)""",
        f"""CREATE OR REPLACE TEMP TABLE rep_plan AS
        SELECT r, printf('rep-%03d', r) AS rep_id,
               -- about 60% SMB, 30% mid-market, 10% enterprise, at least one rep in each
               CASE WHEN r < greatest(1, round(0.6 * {p.spec.reps})) THEN 'SMB'
                    WHEN r >= {p.spec.reps} - greatest(1, round(0.1 * {p.spec.reps})) THEN 'Enterprise'
                    ELSE 'Mid-market' END AS segment,
               {regions}[1 + r % {len(REGIONS)}] AS region
        FROM range({p.spec.reps}) t(r)""",
        "CREATE OR REPLACE TABLE reps AS SELECT rep_id, segment AS team, region FROM rep_plan ORDER BY rep_id",
        f"""CREATE OR REPLACE TABLE rep_capacity AS
        WITH migrating AS (
            SELECT r, d, (segment, region) = ('{MIGRATING[0]}', '{MIGRATING[1]}') AND d >= {last} AS hit
            FROM rep_plan, range({start}, {end}, INTERVAL 1 DAY) t(d)
        )
        SELECT rep_id, CAST(d AS DATE) AS day,
               CASE WHEN r = 0 AND d >= {last} THEN 0.0
                    ELSE round(5.5 + (u({s}, r, epoch(d), 'sell') - 0.5) * 2
                               - CASE WHEN hit THEN {MIGRATION_HOURS} ELSE 0 END, 2) END AS selling_hours,
               round(1.8 + u({s}, r, epoch(d), 'admin') + CASE WHEN hit THEN {MIGRATION_HOURS} ELSE 0 END, 2)
                 AS admin_hours
        FROM rep_plan JOIN migrating USING (r)
        WHERE isodow(d) <= 5""",
        f"""CREATE OR REPLACE TEMP TABLE slots AS
        WITH rate AS (SELECT {p.spec.activities} / sum(selling_hours) AS per_hour FROM rep_capacity),
        plan AS (
            SELECT reps.r, reps.segment, rc.rep_id, rc.day,
                   CAST(round(rc.selling_hours * rate.per_hour * (0.85 + 0.3 * u({s}, reps.r, epoch(rc.day), 'n')))
                        AS BIGINT) AS n
            FROM rep_capacity rc JOIN rep_plan reps USING (rep_id), rate
        ),
        counted AS (SELECT segment, count(*) AS seg_count FROM contacts GROUP BY segment)
        SELECT plan.r, plan.segment, plan.rep_id, plan.day, k,
               u({s}, plan.r, epoch(plan.day) + k, 'channel') AS x_channel,
               u({s}, plan.r, epoch(plan.day) + k, 'auto') AS x_auto,
               u({s}, plan.r, epoch(plan.day) + k, 'extra') AS x_extra,
               u({s}, plan.r, epoch(plan.day) + k, 'drop') AS x_drop,
               -- reps work a segment's cadence pool: enterprise effort goes to few contacts, SMB to many
               CAST(floor(pow(u({s}, plan.r, epoch(plan.day) + k, 'who'), 1.5) * counted.seg_count
                          * CASE plan.segment WHEN 'SMB' THEN 0.55 WHEN 'Mid-market' THEN 0.35 ELSE 0.15 END)
                    AS BIGINT) AS who,
               CAST(floor(u({s}, plan.r, epoch(plan.day) + k, 'minute') * 600) AS INTEGER) AS minute
        FROM (SELECT plan.*, unnest(range(n)) AS k FROM plan) plan JOIN counted USING (segment)""",
        f"""CREATE OR REPLACE TABLE activities AS
        WITH touches AS (
            SELECT sl.*, c.contact_id, c.account_id,
                   CASE sl.segment
                     WHEN 'SMB' THEN CASE WHEN x_channel < 0.58 THEN 'email' WHEN x_channel < 0.80 THEN 'call'
                                          WHEN x_channel < 0.90 THEN 'meeting' WHEN x_channel < 0.96 THEN 'social'
                                          ELSE 'task' END
                     WHEN 'Mid-market' THEN CASE WHEN x_channel < 0.45 THEN 'email' WHEN x_channel < 0.70 THEN 'call'
                                          WHEN x_channel < 0.88 THEN 'meeting' WHEN x_channel < 0.96 THEN 'social'
                                          ELSE 'task' END
                     ELSE CASE WHEN x_channel < 0.35 THEN 'email' WHEN x_channel < 0.55 THEN 'call'
                               WHEN x_channel < 0.85 THEN 'meeting' WHEN x_channel < 0.95 THEN 'social'
                               ELSE 'task' END
                   END AS channel,
                   timezone('{tz}', CAST(sl.day AS TIMESTAMP) + INTERVAL 8 HOUR + to_minutes(sl.minute)) AS occurred_at,
                   printf('%s-%s-%d', sl.rep_id, strftime(sl.day, '%Y%m%d'), sl.k) AS key
            FROM slots sl JOIN contacts c ON c.segment = sl.segment AND c.seg_rank = sl.who
        ),
        kept AS (
            SELECT * FROM touches
            WHERE NOT (channel = 'call' AND segment = 'SMB' AND day >= {last} AND x_drop < 0.45)
        )
        SELECT 'act-' || key AS activity_id, contact_id, account_id, rep_id, channel, 'touch' AS kind,
               channel = 'email' AND x_auto < 0.45 AS is_automated,
               CASE WHEN channel = 'email' THEN 'outreach' ELSE 'salesforce' END AS source_system,
               'ext-' || key AS external_id, occurred_at
        FROM kept
        UNION ALL  -- the same external record synced twice: counted once by the tree's dedupe
        SELECT 'act-' || key || '-dup', contact_id, account_id, rep_id, channel, 'touch',
               channel = 'email' AND x_auto < 0.45,
               CASE WHEN channel = 'email' THEN 'outreach' ELSE 'salesforce' END, 'ext-' || key, occurred_at
        FROM kept WHERE x_extra < 0.03
        UNION ALL  -- internal notes: not touches
        SELECT 'note-' || key, contact_id, account_id, rep_id, 'task', 'internal_note', false, 'salesforce',
               'note-' || key, occurred_at + INTERVAL 5 MINUTE
        FROM kept WHERE x_extra >= 0.03 AND x_extra < 0.11
        UNION ALL  -- automated system events (bounces, auto-logged opens): not touches
        SELECT 'sys-' || key, contact_id, account_id, rep_id, 'email', 'system_event', true, 'outreach',
               'sys-' || key, occurred_at + INTERVAL 1 MINUTE
        FROM kept WHERE x_extra >= 0.11 AND x_extra < 0.16
        UNION ALL  -- the meeting-first play in Mid-market from the working intervention's start: +25%
        SELECT 'act-' || key || '-mtg', contact_id, account_id, rep_id, 'meeting', 'touch', false, 'salesforce',
               'ext-' || key || '-mtg', occurred_at + INTERVAL 2 DAY
        FROM kept WHERE segment = 'Mid-market' AND channel = 'meeting' AND day >= {play}
                        AND x_extra >= 0.16 AND x_extra < 0.41""",
        "DROP TABLE slots",
        f"""CREATE OR REPLACE TABLE signals AS
        WITH raw AS (
            SELECT i,
                   CAST(floor(pow(u({s}, i, 0, 'who'), 2.5) * {p.spec.contacts}) AS BIGINT) AS contact_no,
                   u({s}, i, 0, 'type') AS x_type,
                   u({s}, i, 0, 'drop') AS x_drop,
                   timezone('{tz}', CAST({end} AS TIMESTAMP))
                     - to_seconds(CAST(floor(pow(u({s}, i, 0, 'when'), 1.3) * 365 * 86400) AS BIGINT)) AS occurred_at,
                   5 + CAST(floor(u({s}, i, 0, 'minutes') * 55) AS INTEGER) AS minutes
            FROM range({p.spec.signals}) t(i)
        ),
        typed AS (
            SELECT raw.*, c.contact_id, c.account_id, a.csm_email,
                   CASE WHEN x_type < 0.25 THEN 'login' WHEN x_type < 0.40 THEN 'feature_used'
                        WHEN x_type < 0.50 THEN 'app_minutes' WHEN x_type < 0.70 THEN 'email_open'
                        WHEN x_type < 0.76 THEN 'email_click' WHEN x_type < 0.79 THEN 'content_download'
                        WHEN x_type < 0.83 THEN 'meeting_attended' WHEN x_type < 0.89 THEN 'reply'
                        WHEN x_type < 0.93 THEN 'support_contact' WHEN x_type < 0.97 THEN 'pricing_page_view'
                        ELSE 'intent_surge' END AS signal_type
            FROM raw JOIN contacts c USING (contact_no) JOIN accounts a ON a.account_id = c.account_id
        )
        SELECT printf('sig-%09d', i) AS signal_id, contact_id, account_id, signal_type, occurred_at,
               CASE WHEN signal_type = 'app_minutes' THEN CAST(minutes AS DOUBLE) END AS quantity
        FROM typed
        WHERE NOT (csm_email = '{SLIDING_CSM}' AND signal_type IN ('login', 'feature_used', 'app_minutes')
                   AND occurred_at >= timezone('{tz}', CAST({end} AS TIMESTAMP)) - INTERVAL 28 DAY
                   AND x_drop < 0.85)
        -- In time order, as an event stream is exported (the activities come out so too): a scan
        -- of the last weeks then reads their row groups, not the year's.
        ORDER BY occurred_at, signal_id""",
        f"""CREATE OR REPLACE TABLE outcomes AS
        WITH decided AS (
            SELECT contact_id, account_id,
                   timezone('{tz}', CAST({end} AS TIMESTAMP))
                     - to_seconds(CAST(floor(u({s}, hash(contact_id), 0, 'decided') * 180 * 86400) AS BIGINT))
                     AS decided_at
            FROM contacts
        ),
        evidence AS (  -- the true model: engagement two months before the decision, halving every 30 days
            SELECT d.contact_id,
                   sum(CASE s.signal_type {true_weights} ELSE 0 END
                       * CASE WHEN s.signal_type = 'app_minutes' THEN coalesce(s.quantity, 1) ELSE 1 END
                       * pow(0.5, (epoch(d.decided_at) - epoch(s.occurred_at)) / 86400.0 / {OUTCOME_HALF_LIFE_DAYS}))
                     AS z
            FROM decided d JOIN signals s ON s.contact_id = d.contact_id
                 AND s.occurred_at < d.decided_at - to_days({OUTCOME_LAG_DAYS})
                 AND s.occurred_at >= d.decided_at - to_days({OUTCOME_LAG_DAYS} + 365)
            GROUP BY d.contact_id
        )
        SELECT d.account_id, d.contact_id,
               CASE WHEN u({s}, hash(d.contact_id), 0, 'renew')
                         < 1 / (1 + exp(-({OUTCOME_INTERCEPT} + coalesce(e.z, 0)))) THEN 'renewed'
                    ELSE 'churned' END AS outcome,
               d.decided_at
        FROM decided d LEFT JOIN evidence e USING (contact_id)""",
        "ALTER TABLE contacts DROP COLUMN seg_rank",
        "ALTER TABLE contacts DROP COLUMN contact_no",
    ]
