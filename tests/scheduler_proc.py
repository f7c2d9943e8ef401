"""``kpitree schedule`` in a process of its own, on a clock that starts at a chosen instant and
runs at real speed (freezegun, ticking), for tests/test_schedule_processes.py:

    python -m tests.scheduler_proc FAKE_START REAL_ANCHOR [--die-at-commit | --slow-commit] -- SCHEDULE_ARGS...

The clock reads FAKE_START plus the real seconds elapsed since REAL_ANCHOR (a ``time.time()``).
With REAL_ANCHOR ``ready`` the clock reads FAKE_START once the imports are done, however long a
busy machine took over them (a fixed head start before a fire was sometimes used up before the
scheduler was up); the anchor taken is logged first (``clock.anchor real=...``), so that a second
process can join the same timeline by passing it. SIGUSR1 dumps every thread's stack to the log. With
``--die-at-commit`` the process kills itself (SIGKILL: no cleanup) in the middle of a run, after its
results were written to the open transaction and before the commit; ``--slow-commit`` waits there
for three seconds instead, so that a test can signal the process while a run is in progress.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from freezegun import freeze_time


def main(argv: list[str]) -> None:
    # As the schedule command does first: the imports below start threads (numpy's OpenBLAS), which
    # must block the signals the scheduler takes too (kpitree.schedule.signals).
    from kpitree.schedule.signals import block_handled_signals

    block_handled_signals()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    split = argv.index("--")
    own, schedule_args = argv[:split], argv[split + 1 :]
    fake_start = datetime.fromisoformat(own[0])
    import kpitree.pipeline
    from kpitree.delivery.outbox import enqueue as real_enqueue

    def die(*_args: Any, **_kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(3)
        return real_enqueue(*args, **kwargs)

    if "--die-at-commit" in own:
        kpitree.pipeline.enqueue = die  # type: ignore[attr-defined]
    if "--slow-commit" in own:
        kpitree.pipeline.enqueue = slow  # type: ignore[attr-defined]
    from kpitree.cli.main import main as kpitree_main

    real_anchor = time.time() if own[1] == "ready" else float(own[1])
    print(f"clock.anchor real={real_anchor!r}", file=sys.stderr, flush=True)
    with freeze_time(fake_start + timedelta(seconds=time.time() - real_anchor), tick=True):
        kpitree_main(["schedule", *schedule_args])  # the program's entry, as the command runs it


if __name__ == "__main__":
    main(sys.argv[1:])
