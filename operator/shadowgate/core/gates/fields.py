"""A reader for one raw gate mapping that names the gate and the field in every error.

Each accessor marks its key as used; ``finish`` rejects the keys nobody asked for, so a
typo (``minSample``) is an error rather than a silently ignored setting.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from shadowgate.core.gates.specs import GateSpecError

E = TypeVar("E", bound=enum.Enum)
_MISSING: Any = object()


class Fields:
    def __init__(self, gate: str, raw: Mapping[str, Any], prefix: str = "") -> None:
        self.gate = gate
        self.raw = raw
        self.prefix = prefix
        self.used: set[str] = set()

    def path(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str, problem: str) -> GateSpecError:
        return GateSpecError(self.gate, self.path(key), problem)

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def _take(self, key: str, default: Any) -> Any:
        self.used.add(key)
        value = self.raw.get(key)
        if value is None:
            if default is _MISSING:
                raise self.error(key, "is required")
            return default
        return value

    def string(self, key: str, default: Any = _MISSING) -> Any:
        value = self._take(key, default)
        if value is default:
            return value
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, got {value!r}")
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        low: float | None = None,
        high: float | None = None,
        open_low: bool = False,
    ) -> Any:
        value = self._take(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(key, f"must be a finite number, got {value!r}")
        if low is not None and (value < low or (open_low and value == low)):
            raise self.error(key, f"must be {'>' if open_low else '>='} {low}, got {value}")
        if high is not None and value > high:
            raise self.error(key, f"must be <= {high}, got {value}")
        return float(value)

    def integer(self, key: str, default: Any = _MISSING, *, low: int | None = None) -> Any:
        value = self._take(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, got {value!r}")
        if low is not None and value < low:
            raise self.error(key, f"must be >= {low}, got {value}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._take(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def choice(self, key: str, enum_cls: type[E], default: Any = _MISSING) -> E:
        value = self._take(key, default)
        if isinstance(value, enum_cls):
            return value
        allowed = [str(m.value) for m in enum_cls]
        if value not in allowed:
            raise self.error(key, f"must be one of {allowed}, got {value!r}")
        return enum_cls(value)

    def mapping(self, key: str, default: Any = _MISSING) -> Any:
        value = self._take(key, default)
        if value is default:
            return value
        if not isinstance(value, Mapping) or not value:
            raise self.error(key, f"must be a non-empty mapping, got {value!r}")
        for k in value:
            if not isinstance(k, str) or not k:
                raise self.error(key, f"keys must be non-empty strings, got {k!r}")
        return value

    def strings(self, key: str, default: Any = _MISSING) -> Any:
        value = self._take(key, default)
        if value is default:
            return value
        if not isinstance(value, list) or not value:
            raise self.error(key, f"must be a non-empty list of strings, got {value!r}")
        for item in value:
            if not isinstance(item, str) or not item:
                raise self.error(key, f"must be a list of non-empty strings, got item {item!r}")
        return list(value)

    def nested(self, key: str, sub: str, raw: Any) -> Fields:
        """A reader for ``raw`` found at ``key.sub`` (an entry of a mapping field)."""
        path = f"{self.path(key)}.{sub}"
        if not isinstance(raw, Mapping):
            raise GateSpecError(self.gate, path, f"must be a mapping, got {raw!r}")
        return Fields(self.gate, raw, prefix=f"{path}.")

    def finish(self) -> None:
        extra = sorted(k for k in self.raw if k not in self.used)
        if extra:
            raise self.error(str(extra[0]), f"unknown field (known here: {sorted(self.used)})")
