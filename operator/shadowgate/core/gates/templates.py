"""PromQL query templates with ``{variable}`` placeholders.

PromQL itself uses braces for label matchers (``{route="x"}``), so a placeholder is
recognised only as a brace pair around a bare identifier: ``{route}``. A matcher always
contains an operator (``=``, ``!=``, ``=~``) and never matches. Values are escaped for a
PromQL double-quoted string, where placeholders normally sit (``route="{route}"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# The variables a source fills (see sources.base.QueryContext); latency gates add quantile.
VARIABLES = frozenset({"namespace", "target", "route", "candidate", "variant", "window"})
LATENCY_VARIABLES = VARIABLES | {"quantile"}
WEIGHTED_VARIABLES = VARIABLES | {"key"}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def variables_in(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def unknown_variables(template: str, allowed: frozenset[str] = VARIABLES) -> list[str]:
    """The placeholders in ``template`` that no source fills, sorted."""
    return sorted(variables_in(template) - allowed)


def balanced(template: str) -> bool:
    """Whether (), [] and {} nest properly outside string literals: a cheap syntax check
    that catches most typos before Prometheus sees the query."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for ch in template:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
    return not stack and quote is None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill every placeholder; a placeholder without a value raises KeyError (parsing
    has already rejected unknown names, so this signals a programming error)."""
    return _PLACEHOLDER.sub(lambda m: _escape(values[m.group(1)]), template)
