"""The node agent's memory across restarts: Pod IPs and the processes it started.

``IpAllocator`` hands out loopback addresses in the agent's own subnet ``127.S.0.0/16``
(S >= 1, so never 127.0.0.1, which host processes use; S is claimed per agent, see
``node_agent_subnets``, so two local stacks never hand out the same address). It is
next-fit, not lowest-free: a freed address is not handed out again until the range wraps,
so a client holding a stale address of a deleted Pod cannot reach a new, unrelated one.
``AgentState`` maps pod uid -> ``PodRecord`` and is written to a JSON file after every
change (atomically), so a restarted agent adopts live processes instead of starting
duplicates.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pathlib
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

STATE_VERSION = 1


class AddressesExhausted(RuntimeError):
    pass


class IpAllocator:
    """Next-fit allocation of unique Pod addresses in 127.S.0.1-127.S.255.254."""

    def __init__(self, in_use: Iterable[str] = (), cursor: str | None = None, subnet: int = 1) -> None:
        if not 1 <= subnet <= 254:
            raise ValueError(f"Pod subnet 127.{subnet}.0.0/16 is outside 127.1-127.254")
        self.subnet = subnet
        self.first = ipaddress.IPv4Address(f"127.{subnet}.0.1")
        self.last = ipaddress.IPv4Address(f"127.{subnet}.255.254")
        self._used = {ipaddress.IPv4Address(ip) for ip in in_use}
        self._cursor = ipaddress.IPv4Address(cursor) if cursor else self.first

    @property
    def cursor(self) -> str:
        return str(self._cursor)

    def usable(self, ip: str | ipaddress.IPv4Address) -> bool:
        """Inside this subnet, and not an address ending in .0 or .255 (easy to misread)."""
        addr = ipaddress.IPv4Address(ip)
        return self.first <= addr <= self.last and int(addr) & 0xFF not in (0, 255)

    def reserve(self, ip: str) -> None:
        self._used.add(ipaddress.IPv4Address(ip))

    def release(self, ip: str) -> None:
        self._used.discard(ipaddress.IPv4Address(ip))

    def allocate(self) -> str:
        first, last = int(self.first), int(self.last)
        span = last - first + 1
        start = int(self._cursor) if first <= int(self._cursor) <= last else first
        for step in range(span):
            ip = ipaddress.IPv4Address(first + (start - first + step) % span)
            if self.usable(ip) and ip not in self._used:
                self._used.add(ip)
                self._cursor = ipaddress.IPv4Address(int(ip) + 1) if ip < self.last else self.first
                return str(ip)
        raise AddressesExhausted(f"every Pod address in 127.{self.subnet}.0.0/16 is in use")


def recorded_subnet(path: pathlib.Path) -> int | None:
    """The subnet an earlier agent used with this state file, if any (to claim it again)."""
    try:
        value = json.loads(path.read_text()).get("subnet")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


@dataclass(frozen=True)
class PodRecord:
    """One Pod this agent runs: its address and, while one runs, its process."""

    namespace: str
    name: str
    ip: str
    restart_count: int = 0
    pid: int | None = None
    # The process's start time in clock ticks since boot (/proc/<pid>/stat field 22): with
    # the pid it identifies the process, so a reused pid is never mistaken for ours.
    pid_start: int | None = None
    started_at: str | None = None
    start_time: str | None = None


class AgentState:
    """Thread-safe uid -> PodRecord map persisted to ``path``; addresses from ``subnet``."""

    def __init__(self, path: pathlib.Path, subnet: int = 1) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._pods: dict[str, PodRecord] = {}
        cursor = None
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"{path}: unknown state version {data.get('version')!r}")
            self._pods = {uid: PodRecord(**rec) for uid, rec in data.get("pods", {}).items()}
            cursor = data.get("cursor") if data.get("subnet") == subnet else None
        self.ips = IpAllocator((r.ip for r in self._pods.values()), cursor, subnet)

    def get(self, uid: str) -> PodRecord | None:
        with self._lock:
            return self._pods.get(uid)

    def items(self) -> list[tuple[str, PodRecord]]:
        with self._lock:
            return list(self._pods.items())

    def assign_ip(self, uid: str, namespace: str, name: str, wanted: str | None) -> PodRecord:
        """The Pod's record, creating it with ``wanted`` (its reported podIP) or a fresh address."""
        with self._lock:
            rec = self._pods.get(uid)
            if rec is None:
                # Keep the address the Pod already reports (an agent restart) if it is ours to give.
                if wanted and self.ips.usable(wanted) and wanted not in {r.ip for r in self._pods.values()}:
                    self.ips.reserve(wanted)
                    ip = wanted
                else:
                    ip = self.ips.allocate()
                rec = PodRecord(namespace=namespace, name=name, ip=ip)
                self._pods[uid] = rec
                self._save()
            return rec

    def update(self, uid: str, **changes: object) -> PodRecord:
        with self._lock:
            rec = replace(self._pods[uid], **changes)  # type: ignore[arg-type]
            self._pods[uid] = rec
            self._save()
            return rec

    def forget(self, uid: str) -> None:
        with self._lock:
            rec = self._pods.pop(uid, None)
            if rec is not None:
                self.ips.release(rec.ip)
                self._save()

    def _save(self) -> None:
        data = {
            "version": STATE_VERSION,
            "subnet": self.ips.subnet,
            "cursor": self.ips.cursor,
            "pods": {uid: asdict(rec) for uid, rec in self._pods.items()},
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self._path)
