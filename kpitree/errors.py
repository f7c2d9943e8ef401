"""Exceptions raised by kpitree.

Two families, so that the CLI can tell a user's mistake (print it, exit 1, no traceback) from a
bug in kpitree (print a traceback and ask for a report)::

    KpitreeError
    ├── UserError                 the input is wrong; the message says what to change
    │   ├── TreeInvalid           a tree file has validation errors, every issue found (kpitree.spec.issues)
    │   ├── TreeNotFound          a tree path or id that names nothing
    │   ├── UsageError            a command-line value that cannot be used (bad period, bad --where)
    │   ├── WarehouseError        the warehouse cannot be reached, or lacks a table or column a tree reads
    │   ├── DataRejected          a file to load has rows that fail the data contract's types
    │   ├── TemplateError         an alert template failed to render (kpitree.alert.templates)
    │   ├── FormulaSyntaxError    a formula outside the language (kpitree.formula; also a ValueError)
    │   │   └── FormulaTooComplex past the length or nesting bound
    │   └── ExpressionError       a computed column's expression outside the language (kpitree.expressions)
    ├── AttributionError          no exact decomposition for these values; shown as the node's reason
    │                             (kpitree.analysis.methods; also a ValueError)
    ├── DeliveryFailure           a channel could not send a message; says whether a retry may succeed
    │                             (kpitree.delivery.channels; recorded on the outbox row)
    ├── RunSuperseded             a pipeline run's attempt lost its claim to another scheduler; its
    │                             transaction was rolled back (not a mistake, not a bug)
    └── InternalError             kpitree broke an invariant of its own; never the user's fault

Validation problems are *collected*, not raised one by one: see ``kpitree.spec.issues``.
"""

from __future__ import annotations


class KpitreeError(Exception):
    """Base of every exception kpitree raises on purpose."""


class UserError(KpitreeError):
    """The user's input is wrong. The message is shown as is, without a traceback."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class TreeNotFound(UserError):
    """A tree given by path or id could not be found."""


class UsageError(UserError):
    """A command-line value that cannot be used."""


class WarehouseError(UserError):
    """The warehouse cannot be opened, lacks a table or column that a tree reads, holds a column of
    a type a tree cannot use, or refused a statement. ``source``, ``node`` and ``key`` say where in
    the tree the problem is, when it is about one place (``kpitree validate --warehouse`` reports it
    at that line)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        source: str | None = None,
        node: str | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.source = source
        self.node = node
        self.key = key


class DataRejected(UserError):
    """Rows of a file could not be read as the table's types; nothing was loaded."""


class RunSuperseded(KpitreeError):
    """Another scheduler claimed this run (this one lost its lease, e.g. it was paused): the attempt
    rolled back instead of committing over its successor's."""


class InternalError(KpitreeError):
    """kpitree broke one of its own invariants. This is a bug: please report it."""
