"""PrometheusSource: gate observations from PromQL over the HTTP API (``promapi``).

Each gate's plan (``core.gates.plans``) is rendered per arm (``{variant}`` = the context's
candidate or baseline variant) and run as instant queries at ``context.at``, through the one
client and its retry policy (``promapi``). Nothing escapes as an exception: a measurement
problem comes back as ``Unavailable`` (QueryError or NoData), a missing metric of a
multi-metric gate as None.
"""

from __future__ import annotations

import asyncio

import httpx

from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import plans, registry, templates
from shadowgate.core.gates.specs import GateSpec
from shadowgate.core.stats import quantiles as quantile_bounds
from shadowgate.core.verdicts import InconclusiveReason
from shadowgate.sources.base import QueryContext
from shadowgate.sources.promapi import PrometheusAPI, PrometheusError, RetryPolicy
from shadowgate.sources.prometheus_response import parse_instant

QUERY_ERROR = InconclusiveReason.QUERY_ERROR


class PrometheusSource:
    """``api`` (shared, caller-owned) or, built here, a client from ``client`` / ``transport``
    (e.g. httpx.MockTransport in unit tests) with ``retries`` + 1 tries of ``timeout`` each."""

    def __init__(
        self,
        base_url: str,
        *,
        api: PrometheusAPI | None = None,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.2,
    ) -> None:
        if retries < 0 or timeout <= 0:
            raise ValueError("retries must be >= 0 and timeout > 0")
        self._owned = api is None
        policy = RetryPolicy(tries=retries + 1, backoff_s=backoff, timeout_s=timeout)
        self.api = api or PrometheusAPI(base_url, policy=policy, client=client, transport=transport)

    async def aclose(self) -> None:
        if self._owned:
            await self.api.aclose()

    async def query(self, promql: str, at: float | None = None) -> float | obs.Unavailable:
        """One instant query -> its single value, or why there is none."""
        try:
            body = await self.api.query(promql, at)
        except PrometheusError as exc:
            return obs.Unavailable(QUERY_ERROR, str(exc))
        return parse_instant(body, promql)

    async def _arm(
        self, template: str, context: QueryContext, variant: str, **extra: str
    ) -> float | obs.Unavailable:
        values = {**context.variables(variant), **extra}
        return await self.query(templates.render(template, values), context.at)

    async def observe(self, spec: GateSpec, context: QueryContext) -> obs.Observation:
        try:
            return await self._observe(spec, context)
        except Exception as exc:  # a bug here must not take the operator down with it
            return obs.Unavailable(QUERY_ERROR, f"prometheus source failed: {type(exc).__name__}: {exc}")

    async def _observe(self, spec: GateSpec, context: QueryContext) -> obs.Observation:
        plan = registry.plan(spec)
        if isinstance(plan, plans.ValuesPlan):
            arms = [context.candidate_variant]
            if plan.baseline:
                arms.append(context.baseline_variant)
            return await self._values(list(plan.metrics), arms, context)
        if isinstance(plan, plans.CountsPlan):
            return await self._counts(plan, context)
        if isinstance(plan, plans.QuantilesPlan):
            return await self._quantiles(plan, context)
        what = type(plan).__name__
        return obs.Unavailable(QUERY_ERROR, f"gate {spec.header.name}: Prometheus cannot answer a {what}")

    async def _values(self, metrics: list[str], arms: list[str], context: QueryContext) -> obs.Observation:
        jobs = [self._arm(m, context, arm) for arm in arms for m in metrics]
        answers = await asyncio.gather(*jobs)
        per_arm: list[dict[str, float | None]] = []
        for i, _ in enumerate(arms):
            chunk = answers[i * len(metrics) : (i + 1) * len(metrics)]
            for a in chunk:
                if isinstance(a, obs.Unavailable) and a.reason is QUERY_ERROR:
                    return a
            per_arm.append(
                {
                    m: (None if isinstance(a, obs.Unavailable) else a)
                    for m, a in zip(metrics, chunk, strict=True)
                }
            )
        return obs.Values(candidate=per_arm[0], baseline=per_arm[1] if len(per_arm) > 1 else {})

    async def _counts(self, spec: plans.CountsPlan, context: QueryContext) -> obs.Observation:
        arms = (context.candidate_variant, context.baseline_variant)
        answers = await asyncio.gather(
            *[self._arm(t, context, a) for a in arms for t in (spec.events, spec.trials)]
        )
        for a in answers:
            if isinstance(a, obs.Unavailable):
                return a
        ce, ct, be, bt = (max(0, round(float(a))) for a in answers)  # type: ignore[arg-type]
        # increase() extrapolates each series separately; keep events <= trials.
        return obs.Counts(min(ce, ct), ct, min(be, bt), bt)

    async def _quantiles(self, spec: plans.QuantilesPlan, context: QueryContext) -> obs.Observation:
        arms = [context.candidate_variant]
        if spec.baseline:
            arms.append(context.baseline_variant)
        counts = await asyncio.gather(*[self._arm(spec.count_query, context, arm) for arm in arms])
        ns: list[int] = []
        for arm, count in zip(arms, counts, strict=True):
            if isinstance(count, obs.Unavailable):
                return obs.Unavailable(count.reason, f"{arm} request count: {count.detail}")
            ns.append(max(0, round(count)))
        # The candidate needs its lower bounds (to be shown slower), the baseline its upper
        # ones (so a noisy baseline never makes the limit look tighter than it is).
        answers = await asyncio.gather(
            *[
                self._quantile_arm(spec, context, arm, n, upper=i > 0)
                for i, (arm, n) in enumerate(zip(arms, ns, strict=True))
            ]
        )
        for a in answers:
            if isinstance(a, obs.Unavailable):
                return a
        out = [a for a in answers if isinstance(a, obs.QuantileArm)]
        return obs.Quantiles(out[0], out[1] if len(out) > 1 else None)

    async def _quantile_arm(
        self, spec: plans.QuantilesPlan, context: QueryContext, arm: str, n: int, *, upper: bool
    ) -> obs.QuantileArm | obs.Unavailable:
        """One arm's percentiles and one side of their confidence bounds: histogram_quantile at
        the percentile and at its order statistic's level (none when n is too small)."""
        bounds = [quantile_bounds.levels(n, q, spec.alpha / 2) for q in spec.quantiles]
        levels = [lv.upper if upper else lv.lower for lv in bounds]

        async def at(level: float | None) -> float | obs.Unavailable | None:
            return None if level is None else await self._arm(spec.query, context, arm, quantile=repr(level))

        answers = await asyncio.gather(*[at(q) for q in spec.quantiles], *[at(lv) for lv in levels])
        for a in answers:
            if isinstance(a, obs.Unavailable) and a.reason is QUERY_ERROR:
                return a
        found = [None if isinstance(a, obs.Unavailable) else a for a in answers]
        k = len(spec.quantiles)
        values = dict(zip(spec.quantiles, found[:k], strict=True))
        side = dict(zip(spec.quantiles, found[k:], strict=True))
        return obs.QuantileArm(values, n, upper=side) if upper else obs.QuantileArm(values, n, lower=side)
