"""The two interventions the sample data carries, as the demo registers them.

The sample plants a meeting-first play in Mid-market (its reps add a follow-up meeting to about a
quarter of their meetings from :func:`~kpitree.sample.generate.play_start`), so the first is
verified against Enterprise. The second, a rewrite of the SMB email sequence, changed nothing in
the data: with a 15% lift expected, its interval rules that out.
"""

from __future__ import annotations

from dataclasses import dataclass

from kpitree.sample.generate import SampleSpec, play_start


@dataclass(frozen=True)
class SampleIntervention:
    tree: str
    node: str
    segment: str
    control: str
    expect: str
    size: float
    window: str
    owner: str
    note: str


TREE = "activity_volume_per_contact"
SAMPLE_INTERVENTIONS = (
    SampleIntervention(
        TREE,
        "meeting_touches",
        "segment=Mid-market",
        "segment=Enterprise",
        "up",
        0.2,
        "8w",
        "tomas",
        "Meeting-first play: a follow-up meeting booked at the end of every first meeting",
    ),
    SampleIntervention(
        TREE,
        "email_touches",
        "segment=SMB",
        "segment=Mid-market",
        "up",
        0.15,
        "8w",
        "marcus",
        "Rewrote the SMB outbound email sequence (shorter, one ask per email)",
    ),
)


def sample_start(spec: SampleSpec) -> str:
    return play_start(spec).isoformat()
