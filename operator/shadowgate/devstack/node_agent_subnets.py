"""Which ``127.S.0.0/16`` an agent gives its Pods: one subnet per running agent.

Several local stacks can run on one machine at once (a developer's demo, a test session,
another checkout's tests), each with its own node agent. If two agents handed out the same
address, one stack's readiness probe would reach another stack's server. So each agent
holds an exclusive ``flock`` on ``<lock-dir>/127.S.lock`` for its lifetime; the kernel
drops the lock when the agent dies, even by SIGKILL, so a subnet is never leaked. A subnet
with servers still listening on it (the Pods of an agent that was killed) is skipped too, unless
it is the one this state folder used before: then the new agent adopts those Pods.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

FIRST_SUBNET, LAST_SUBNET = 1, 254
DEFAULT_LOCK_DIR = pathlib.Path(tempfile.gettempdir()) / "shadowgate-pod-subnets"


class SubnetsExhausted(RuntimeError):
    pass


@dataclass
class SubnetClaim:
    """A held subnet; the lock lasts while ``handle`` is open (the agent's lifetime)."""

    subnet: int
    handle: IO[str]

    def release(self) -> None:
        self.handle.close()


LISTEN = "0A"  # the socket state column of /proc/net/tcp


def loopback_subnets_with_sockets(tables: Iterable[str] = ("/proc/net/tcp",)) -> set[int]:
    """Second octets of 127.x.y.z addresses that local TCP servers listen on.

    Only listeners count: a stopped stack's connections linger in TIME_WAIT for a minute
    and must not keep its subnet from the next agent.
    """
    found: set[int] = set()
    for table in tables:
        try:
            lines = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != LISTEN:
                continue
            local = fields[1]  # "0100017F:1F90": the address in little-endian hex
            raw = bytes.fromhex(local.split(":")[0])[::-1]
            if raw[0] == 127:
                found.add(raw[1])
    return found


def claim_subnet(lock_dir: pathlib.Path, preferred: int | None, busy: set[int] | None = None) -> SubnetClaim:
    """Lock ``preferred`` if free, else the lowest free subnet nobody listens on."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    busy = loopback_subnets_with_sockets() if busy is None else busy
    candidates = [s for s in range(FIRST_SUBNET, LAST_SUBNET + 1) if s != preferred and s not in busy]
    if preferred is not None and FIRST_SUBNET <= preferred <= LAST_SUBNET:
        candidates.insert(0, preferred)
    for subnet in candidates:
        handle = open(lock_dir / f"127.{subnet}.lock", "a+")  # noqa: SIM115 - held for the agent's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return SubnetClaim(subnet, handle)
    raise SubnetsExhausted(
        f"every Pod subnet 127.{FIRST_SUBNET}-{LAST_SUBNET}.0.0/16 is held by another node agent "
        f"or has sockets open (locks in {lock_dir})"
    )
