"""Stacks owned by a process: stop the ones whose owner died without stopping them.

A pytest killed before its teardown (a timeout, Ctrl-C twice) leaves its stack running: an API
server, a kubelet and the node's containers on a 2-core machine. Each test fixture that starts a
stack records its process id in the state folder (``claim_stack``); the next session stops
every stack whose owner is gone (``reap_abandoned_stacks``) before it starts its own.
"""

from __future__ import annotations

import os
import pathlib

from shadowgate.devstack.stack import Stack

OWNER_FILE = "pytest-owner.pid"


def claim_stack(state_dir: pathlib.Path) -> None:
    (state_dir / OWNER_FILE).write_text(f"{os.getpid()}\n")


def reap_abandoned_stacks(base: pathlib.Path) -> None:
    """Stop stacks under earlier ``pytest-N`` folders (beside ``base``) whose pytest is gone."""
    for owner in base.parent.glob(f"pytest-*/*/{OWNER_FILE}"):
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not pathlib.Path(f"/proc/{pid}").exists():
            # The folder is a finished session's temporary one: its images (GBs) go too.
            Stack(owner.parent).down(purge=True)
            owner.unlink(missing_ok=True)
