"""The offline-evaluation source: golden-set results for candidate and baseline, as gate values.

How the numbers are obtained (docs/data.md, "Evaluation gate source"): the golden set lives
in a ConfigMap (``kubectl create configmap NAME --from-file=data/golden/``), named by the
Candidate's ``spec.evaluation.goldenSet.configMap``. The source reads it once, finds one
Ready candidate Pod (``shadowgate.dev/candidate=<name>``, variant ``canary``) and one Ready
production Pod (``shadowgate.dev/target=<deployment>``, variant ``primary``), learns the
model name from the model server's management API (port 8081), and runs the HTTP evaluator
against both inference ports (8080) on the SAME parsed golden set, so both results carry
the same content hash. Results are cached per (golden hash, endpoint) in a
``ResultsCache`` the operator keeps across analyses; the evaluation runs once per Pod.

Gate metrics are dotted key paths into the results' ``metrics`` (``retrieval.slices.
iyashikei.recall@3``). Any failure becomes ``Unavailable`` (QueryError or NoData), never
an exception: the gate turns Inconclusive and the rollout holds.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from shadowgate.core.gates import observations, plans, registry, specs
from shadowgate.core.verdicts import InconclusiveReason
from shadowgate.evaluation import evaluator, golden
from shadowgate.sources.base import QueryContext

INFERENCE_PORT = 8080
MANAGEMENT_PORT = 8081


class ResolveError(RuntimeError):
    """What to evaluate could not be found (no ConfigMap, no Ready Pod...)."""


@dataclass(frozen=True)
class Resolved:
    golden: golden.GoldenSet
    candidate_endpoint: str
    baseline_endpoint: str


class Resolver(Protocol):
    async def resolve(self, context: QueryContext) -> Resolved: ...


@dataclass
class ResultsCache:
    """Evaluation results by (golden hash, endpoint); the operator keeps one for its lifetime
    so each Pod is evaluated once per golden-set version (a replaced Pod has a new address).
    Bounded: past ``limit`` entries the least recently used goes (a finished rollout's Pods are
    gone, so their results would only grow the operator), and is evaluated again if asked."""

    entries: OrderedDict[tuple[str, str], dict[str, Any]] = field(default_factory=OrderedDict)
    limit: int = 128

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def put(self, key: tuple[str, str], results: dict[str, Any]) -> None:
        self.entries[key] = results
        self.entries.move_to_end(key)
        while len(self.entries) > self.limit:
            self.entries.popitem(last=False)


def _samples_key(path: str) -> str:
    family = path.split(".", 1)[0]
    return {
        "retrieval": "retrieval.global.n",
        "reranking": "reranking.global.n",
        "safety": "safety.responses",
    }.get(family, f"{family}.n")


class EvaluationSource:
    """``MetricSource`` for ``source: evaluation`` gates."""

    def __init__(
        self,
        resolver: Resolver,
        cache: ResultsCache | None = None,
        client: httpx.AsyncClient | None = None,
        options: evaluator.Options | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.resolver = resolver
        self.cache = cache if cache is not None else ResultsCache()
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None
        self.options = options or evaluator.Options()
        self._pair: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _model_name(self, endpoint: str) -> str:
        management = endpoint.rsplit(":", 1)[0] + f":{MANAGEMENT_PORT}"
        resp = await self._client.get(f"{management}/models")
        models = resp.json().get("models") if resp.status_code == 200 else None
        if not models or not isinstance(models[0], Mapping) or not isinstance(models[0].get("name"), str):
            raise ResolveError(f"{management}/models lists no model (HTTP {resp.status_code})")
        return str(models[0]["name"])

    async def _results(self, gold: golden.GoldenSet, endpoint: str) -> dict[str, Any]:
        key = (gold.content_hash, endpoint)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        model = await self._model_name(endpoint)
        results = await evaluator.Evaluator(self._client, endpoint, model, self.options).evaluate(gold)
        self.cache.put(key, results)
        return results

    async def pair(self, context: QueryContext) -> tuple[dict[str, Any], dict[str, Any]]:
        """Candidate and baseline results on one golden set (evaluated at most once per source)."""
        async with self._lock:
            if self._pair is None:
                resolved = await self.resolver.resolve(context)
                cand, base = await asyncio.gather(
                    self._results(resolved.golden, resolved.candidate_endpoint),
                    self._results(resolved.golden, resolved.baseline_endpoint),
                )
                if cand["golden_set"]["hash"] != base["golden_set"]["hash"]:
                    raise evaluator.EvaluationError(
                        "candidate and baseline were evaluated on different golden sets"
                    )
                self._pair = (cand, base)
            return self._pair

    async def observe(self, spec: specs.GateSpec, context: QueryContext) -> observations.Observation:
        plan = registry.plan(spec)
        if isinstance(plan, plans.PairedPlan):
            return await self._paired(plan, context)
        if not isinstance(plan, plans.ValuesPlan) or not plan.metrics:
            return observations.Unavailable(
                InconclusiveReason.QUERY_ERROR, f"a {spec.header.kind} gate cannot use the evaluation source"
            )
        paths = list(plan.metrics)
        got = await self._pair_or_unavailable(context)
        if isinstance(got, observations.Unavailable):
            return got
        cand, base = got
        values = observations.values_from_results(
            paths, cand["metrics"], base["metrics"], _samples_key(paths[0])
        )
        missing = [p for p in paths if values.candidate.get(p) is None]
        if missing:
            kind = cand.get("model", {}).get("kind", "?")
            return observations.Unavailable(
                InconclusiveReason.NO_DATA, f"metric(s) {missing} not in the {kind} evaluation results"
            )
        return values

    async def _pair_or_unavailable(
        self, context: QueryContext
    ) -> tuple[dict[str, Any], dict[str, Any]] | observations.Unavailable:
        try:
            return await self.pair(context)
        except (
            ResolveError,
            evaluator.EvaluationError,
            golden.GoldenSetError,
            httpx.HTTPError,
            ValueError,
        ) as exc:
            return observations.Unavailable(InconclusiveReason.QUERY_ERROR, f"evaluation failed: {exc}")

    async def _paired(self, spec: plans.PairedPlan, context: QueryContext) -> observations.Observation:
        """Per-query values of both arms for a slice-regression gate."""
        got = await self._pair_or_unavailable(context)
        if isinstance(got, observations.Unavailable):
            return got
        cand, base = got
        return observations.paired_from_results(spec.family, spec.metric, cand["metrics"], base["metrics"])


# --- Kubernetes resolution -----------------------------------------------------------------

GROUP, VERSION, PLURAL = "shadowgate.dev", "v1alpha1", "candidates"


def _ready_pod_ip(pods: list[Any]) -> str | None:
    for pod in pods:
        conditions = (pod.status and pod.status.conditions) or []
        ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
        if ready and pod.status.pod_ip and not pod.metadata.deletion_timestamp:
            return str(pod.status.pod_ip)
    return None


class KubernetesResolver:
    """Resolves through the API server with a ``kubernetes.client.ApiClient`` (calls run in a
    thread, because the kubernetes client is synchronous)."""

    def __init__(self, api_client: Any, run: Callable[..., Awaitable[Any]] | None = None) -> None:
        self.api_client = api_client
        self._run = run or asyncio.to_thread

    def _resolve_sync(self, context: QueryContext) -> Resolved:
        from kubernetes import client as k8s
        from kubernetes.client.exceptions import ApiException

        ns = context.namespace
        core = k8s.CoreV1Api(self.api_client)
        try:
            cr = k8s.CustomObjectsApi(self.api_client).get_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, context.candidate
            )
        except ApiException as exc:
            raise ResolveError(
                f"cannot read Candidate {ns}/{context.candidate}: {exc.status} {exc.reason}"
            ) from exc
        spec: dict[str, Any] = (cr.get("spec") if isinstance(cr, dict) else None) or {}
        name = ((spec.get("evaluation") or {}).get("goldenSet") or {}).get("configMap")
        if not name:
            raise ResolveError(
                f"Candidate {ns}/{context.candidate} has no spec.evaluation.goldenSet.configMap"
            )
        try:
            cm = core.read_namespaced_config_map(name, ns)
        except ApiException as exc:
            raise ResolveError(
                f"cannot read golden-set ConfigMap {ns}/{name}: {exc.status} {exc.reason}"
            ) from exc
        files = {k: v for k, v in (cm.data or {}).items() if k in golden.PARTS}
        gold = golden.load_files(files, source=f"ConfigMap {ns}/{name}")
        cand_sel = (
            f"shadowgate.dev/candidate={context.candidate},shadowgate.dev/variant={context.candidate_variant}"
        )
        base_sel = f"shadowgate.dev/target={context.target},shadowgate.dev/variant={context.baseline_variant}"
        endpoints = []
        for what, selector in (("candidate", cand_sel), ("baseline", base_sel)):
            ip = _ready_pod_ip(core.list_namespaced_pod(ns, label_selector=selector).items)
            if ip is None:
                raise ResolveError(f"no Ready {what} Pod in {ns} matches {selector}")
            endpoints.append(f"http://{ip}:{INFERENCE_PORT}")
        return Resolved(gold, endpoints[0], endpoints[1])

    async def resolve(self, context: QueryContext) -> Resolved:
        result: Resolved = await self._run(self._resolve_sync, context)
        return result
