"""Routing by RACI: who hears about an alert, on which channel, at which address.

The alert goes to the owners of the branch that moved (the *largest-gap branch* under the
alerting node): its Responsible owners receive it, its Accountable owner is copied, its Consulted
owners are named in the text, its Informed owners get it in a digest. An owner is a person, a team
(its own address, else its members'), or ``entity:<column>``: the value of that warehouse column
for the entity the alert is about (the account's CSM), which may be a person or team id or an
email address.

An owner without an address on a channel is not dropped: the tree's ``fallback_receiver`` gets the
message instead, flagged with the reason, so someone can fix the directory.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kpitree.addresses import email_problem
from kpitree.analysis.attribution import TreeAttribution, is_bad, worst_segment
from kpitree.tree import MetricTree, Owners

CHANNELS = ("email", "slack")
ENTITY_PREFIX = "entity:"


class Role(enum.StrEnum):
    TO = "to"  # Responsible
    CC = "cc"  # Accountable
    DIGEST = "digest"  # Informed


@dataclass(frozen=True)
class Recipient:
    """One address on one channel, and whom it stands for."""

    channel: str
    address: str  # an email address, a Slack member id, '#channel' or channel id
    owner: str  # the person or team id (or 'entity:<column>=<value>') the message is for
    name: str
    role: Role
    fallback_for: str | None = None  # the owner whose address was missing, when this is the fallback

    @property
    def is_fallback(self) -> bool:
        return self.fallback_for is not None


@dataclass(frozen=True)
class Route:
    """Who hears about one alert."""

    branch: str  # the node whose owners it goes to
    owners: Owners  # the branch's, or its segment_by value's
    recipients: tuple[Recipient, ...]
    consulted: tuple[str, ...]  # names, for the text
    flags: tuple[str, ...]  # why a fallback was used, in words
    names: Mapping[str, str]  # each RACI owner of the branch -> its name, entity owners as resolved here

    def for_role(self, role: Role) -> tuple[Recipient, ...]:
        return tuple(r for r in self.recipients if r.role is role)


def largest_gap_branch(tree: MetricTree, attribution: TreeAttribution | None, node_id: str) -> str:
    """The branch under ``node_id`` that moved it the bad way the most, followed down to a leaf;
    the node itself when it has no children, or none of them moved it the bad way.

    From the KPI this is the attribution's own largest-gap path (which weighs a shared node by its
    whole effect on the KPI); below it each step takes the child with the largest contribution to
    its parent's movement in the parent's bad direction.
    """
    return largest_gap_target(tree, attribution, node_id)[0]


def largest_gap_target(tree: MetricTree, attribution: TreeAttribution | None, node_id: str) -> tuple[str, str | None]:
    """:func:`largest_gap_branch`, and the ``segment_by`` value it ended in (None when it ended at a
    branch): a ratio cut by ``segment_by`` has no branch per value, so the value picks the owners."""
    if attribution is None:
        return node_id, None
    if node_id == tree.root:
        step = attribution.gap_segment
        return attribution.largest_gap_path[-1], step.found_value if step is not None else None
    current = node_id
    seen = {current}
    while True:
        node = attribution.nodes[current]
        segment = worst_segment(node, node.node.direction)
        if segment is not None:  # a ratio cut into segments: the segment's branch, not a term's
            if segment.pair.numerator is None:  # segment_by: the ratio, for that value's owners
                return current, segment.pair.label
            return segment.pair.numerator, None
        bad = [c for c in node.contributions if c.value and is_bad(c.value, node.node.direction)]
        if not bad:
            return current, None
        worst = max(bad, key=lambda c: abs(c.value))
        if worst.child in seen:
            return current, None
        seen.add(worst.child)
        current = worst.child


def route(
    tree: MetricTree,
    branch: str,
    channels: Sequence[str] | None = None,
    entity_values: Mapping[str, object] | None = None,
    segment: str | None = None,
) -> Route:
    """The recipients of an alert routed to ``branch``.

    ``channels`` limits the channels (a rule's ``channels``); by default every channel an owner
    has an address on. ``entity_values`` are the warehouse columns of the alert's entity, which
    ``entity:<column>`` owners are read from. ``segment``: the branch's ``segment_by`` value the
    gap ended in, whose own owners (``segment_owners``) it goes to when it has them.
    """
    node = tree.node(branch)
    wanted = tuple(channels) if channels else CHANNELS
    resolver = _Resolver(tree, wanted, entity_values or {})
    owners = node.owners_for(segment)
    for owner in owners.responsible:
        resolver.add(owner, Role.TO)
    if owners.accountable:
        resolver.add(owners.accountable, Role.CC)
    for owner in owners.informed:
        resolver.add(owner, Role.DIGEST)
    if not owners.responsible and owners.accountable is None:
        resolver.flags.append(f"{node.title} has no Responsible or Accountable owner")
        resolver.add_fallback(Role.TO, "(no owner)")
    every = [*owners.responsible, *([owners.accountable] if owners.accountable else []), *owners.consulted]
    names = {owner: resolver.name_of(owner) for owner in [*every, *owners.informed]}
    return Route(
        branch,
        owners,
        tuple(dict.fromkeys(resolver.recipients)),
        tuple(names[owner] for owner in owners.consulted),
        tuple(dict.fromkeys(resolver.flags)),
        names,
    )


class RouteMemo:
    """:func:`route`, remembered for one run: thousands of entity alerts share a few branches and
    owner columns' values, and resolving (and checking) the addresses again for each is most of
    the time a large run spends routing."""

    def __init__(self, tree: MetricTree) -> None:
        self.tree = tree
        self._known: dict[tuple[object, ...], Route] = {}

    def route(
        self,
        branch: str,
        channels: Sequence[str] | None = None,
        entity_values: Mapping[str, object] | None = None,
        segment: str | None = None,
    ) -> Route:
        values = tuple(sorted((k, type(v).__name__, str(v)) for k, v in (entity_values or {}).items()))
        key = (branch, tuple(channels) if channels else None, values, segment)
        if key not in self._known:
            self._known[key] = route(self.tree, branch, channels, entity_values, segment)
        return self._known[key]


def route_to_owner(tree: MetricTree, owner: str, channels: Sequence[str] | None = None) -> tuple[Recipient, ...]:
    """The addresses of one person or team of the tree (a team without its own address reaches its
    members), with the tree's fallback receiver standing in where an address is missing. For
    messages to a named owner rather than to a branch: an intervention's verdict."""
    resolver = _Resolver(tree, tuple(channels) if channels else CHANNELS, {})
    resolver.add(owner, Role.TO)
    return tuple(dict.fromkeys(resolver.recipients))


class _Resolver:
    def __init__(self, tree: MetricTree, channels: Sequence[str], entity_values: Mapping[str, object]) -> None:
        self.tree = tree
        self.channels = channels
        self.entity_values = entity_values
        self.recipients: list[Recipient] = []
        self.flags: list[str] = []

    def name_of(self, owner: str) -> str:
        resolved = self._resolve_entity(owner)
        if resolved is None:
            return f"each entity's {owner.removeprefix(ENTITY_PREFIX)}"
        if resolved in self.tree.people:
            return self.tree.people[resolved].name
        if resolved in self.tree.teams:
            return self.tree.teams[resolved].name
        return resolved

    def add(self, owner: str, role: Role) -> None:
        resolved = self._resolve_entity(owner)
        if resolved is not None and owner.startswith(ENTITY_PREFIX) and not self._is_known(resolved):
            problem = email_problem(resolved)
            if problem is not None:  # a warehouse value never reaches a header unchecked
                self.flags.append(f"{owner} is {resolved!r}, not a valid email address: {problem}")
                for channel in self.channels:
                    self.add_fallback(role, owner, channel)
                return
        for channel in self.channels:
            if resolved is None:
                self.flags.append(f"{owner} has no value: the alert is not about one entity, or the column is empty")
                self.add_fallback(role, owner, channel)
                continue
            found = list(self._addresses(resolved, channel, role))
            if found:
                self.recipients.extend(found)
            else:
                self.flags.append(f"{self.name_of(owner)} has no {channel} address")
                self.add_fallback(role, resolved, channel)

    def add_fallback(self, role: Role, missing_owner: str, channel: str | None = None) -> None:
        fallback = self.tree.alerting.fallback_receiver
        for ch in (channel,) if channel else self.channels:
            if fallback is None:
                self.flags.append(f"no fallback_receiver: the {ch} message for {missing_owner} cannot be delivered")
                continue
            for recipient in self._addresses(fallback, ch, role):
                self.recipients.append(
                    Recipient(recipient.channel, recipient.address, fallback, recipient.name, role, missing_owner)
                )

    def _is_known(self, owner: str) -> bool:
        return owner in self.tree.people or owner in self.tree.teams

    def _resolve_entity(self, owner: str) -> str | None:
        if not owner.startswith(ENTITY_PREFIX):
            return owner
        value = self.entity_values.get(owner.removeprefix(ENTITY_PREFIX))
        return str(value).strip() or None if value is not None else None

    def _addresses(self, owner: str, channel: str, role: Role) -> Iterable[Recipient]:
        tree = self.tree
        if owner in tree.people:
            person = tree.people[owner]
            address = person.email if channel == "email" else person.slack
            if address:
                yield Recipient(channel, str(address), owner, person.name, role)
        elif owner in tree.teams:
            team = tree.teams[owner]
            address = team.email if channel == "email" else team.slack
            if address:
                yield Recipient(channel, str(address), owner, team.name, role)
            else:  # a team without its own address reaches its members
                for member in team.members:
                    yield from self._addresses(member, channel, role)
        elif channel == "email" and "@" in owner:  # an address read from the warehouse
            yield Recipient(channel, owner, owner, owner, role)
