"""The node agent's memory across restarts: Pod IPs and the processes it started.

``IpAllocator`` hands out loopback addresses from 127.1.0.1 upward (never 127.0.0.1, which
host processes use). It is next-fit, not lowest-free: a freed address is not handed out
again until the range wraps, so a client holding a stale address of a deleted Pod cannot
reach a new, unrelated one. ``AgentState`` maps pod uid -> ``PodRecord`` and is written
to a JSON file after every change (atomically), so a restarted agent adopts live processes
instead of starting duplicates.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pathlib
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

FIRST_IP = ipaddress.IPv4Address("127.1.0.1")
LAST_IP = ipaddress.IPv4Address("127.1.255.254")
STATE_VERSION = 1


class AddressesExhausted(RuntimeError):
    pass


def usable(ip: ipaddress.IPv4Address) -> bool:
    """Inside the Pod range, and not an address ending in .0 or .255 (easy to misread)."""
    last = int(ip) & 0xFF
    return FIRST_IP <= ip <= LAST_IP and last not in (0, 255)


class IpAllocator:
    """Next-fit allocation of unique Pod addresses in 127.1.0.1-127.1.255.254."""

    def __init__(self, in_use: Iterable[str] = (), cursor: str | None = None) -> None:
        self._used = {ipaddress.IPv4Address(ip) for ip in in_use}
        self._cursor = ipaddress.IPv4Address(cursor) if cursor else FIRST_IP

    @property
    def cursor(self) -> str:
        return str(self._cursor)

    def reserve(self, ip: str) -> None:
        self._used.add(ipaddress.IPv4Address(ip))

    def release(self, ip: str) -> None:
        self._used.discard(ipaddress.IPv4Address(ip))

    def allocate(self) -> str:
        span = int(LAST_IP) - int(FIRST_IP) + 1
        start = int(self._cursor) if FIRST_IP <= self._cursor <= LAST_IP else int(FIRST_IP)
        for step in range(span):
            ip = ipaddress.IPv4Address(int(FIRST_IP) + (start - int(FIRST_IP) + step) % span)
            if usable(ip) and ip not in self._used:
                self._used.add(ip)
                nxt = ipaddress.IPv4Address(int(ip) + 1) if ip < LAST_IP else FIRST_IP
                self._cursor = nxt
                return str(ip)
        raise AddressesExhausted("every Pod address in 127.1.0.0/16 is in use")


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
    """Thread-safe uid -> PodRecord map persisted to ``path``."""

    def __init__(self, path: pathlib.Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._pods: dict[str, PodRecord] = {}
        cursor = None
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"{path}: unknown state version {data.get('version')!r}")
            self._pods = {uid: PodRecord(**rec) for uid, rec in data.get("pods", {}).items()}
            cursor = data.get("cursor")
        self.ips = IpAllocator((r.ip for r in self._pods.values()), cursor)

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
                if wanted and wanted not in {r.ip for r in self._pods.values()}:
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
            "cursor": self.ips.cursor,
            "pods": {uid: asdict(rec) for uid, rec in self._pods.items()},
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self._path)
