"""The user simulator: click model, workload, and the runner against a fake router."""

from __future__ import annotations

import asyncio
import json
import pathlib
import random
from typing import Any

import httpx
import pytest
from shadowgate.evaluation import relevance
from shadowgate.simulator import clicks, runner, workload

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        pytest.param([0, 0, 0], (1 - 0.02) * (1 - 0.01) * (1 - 0.02 / 3), id="all-irrelevant"),
        pytest.param([3], 0.0, id="perfect-top1-always-clicked"),
        pytest.param([], 1.0, id="nothing-shown"),
    ],
)
def test_no_click_probability(grades: list[int], expected: float) -> None:
    assert clicks.ClickModel().no_click_probability(grades) == pytest.approx(expected)


def test_better_ranking_earns_fewer_no_clicks_empirically() -> None:
    model = clicks.ClickModel()
    rng_good, rng_bad = random.Random(1), random.Random(1)
    good = sum(model.click([3, 2, 0, 0, 0], rng_good) is None for _ in range(4000)) / 4000
    bad = sum(model.click([0, 0, 0, 2, 3], rng_bad) is None for _ in range(4000)) / 4000
    assert good == pytest.approx(model.no_click_probability([3, 2, 0, 0, 0]), abs=0.02)
    assert bad == pytest.approx(model.no_click_probability([0, 0, 0, 2, 3]), abs=0.02)
    assert good < bad - 0.3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"eta": -1.0}, "eta", id="eta"),
        pytest.param({"noise": 1.5}, "noise", id="noise"),
    ],
)
def test_click_model_rejects_bad_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clicks.ClickModel(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"rate": 0}, "rate must be > 0", id="rate"),
        pytest.param({"max_requests": 0}, "max_requests", id="count"),
        pytest.param({"router": "ftp://x"}, "http", id="router-url"),
        pytest.param({"route": "a/b"}, "route", id="route"),
    ],
)
def test_settings_validation(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"router": "http://r", "route": "manga", "model": "retriever"}
    with pytest.raises(ValueError, match=message):
        runner.Settings(**{**base, **kwargs})


def test_shipped_workload_loads_and_grades() -> None:
    load = workload.load(ROOT / "data" / "query_log.jsonl", ROOT / "data" / "catalog.jsonl")
    assert len(load.sessions) > 100
    first = [q.text for q, _ in zip(load.queries(5), range(20), strict=False)]
    again = [q.text for q, _ in zip(load.queries(5), range(20), strict=False)]
    assert first == again
    iyashikei = next(i for i, it in load.catalog.items() if it["category"] == "iyashikei")
    assert load.grades([iyashikei, "nope"], relevance.Target("iyashikei")) == [3, 0]


@pytest.mark.parametrize(
    ("log", "message"),
    [
        pytest.param("{bad\n", "line 1: not JSON", id="bad-json"),
        pytest.param(
            '{"intent": "chitchat", "query": "hi", "session_id": "s"}\n',
            "no 'recommend' rows",
            id="no-recommend",
        ),
        pytest.param('{"intent": "recommend", "session_id": "s"}\n', "needs string 'query'", id="no-query"),
        pytest.param(
            '{"intent": "recommend", "query": "q", "session_id": "s", "target": {"themes": 3}}\n',
            "themes",
            id="bad-target",
        ),
    ],
)
def test_bad_query_logs(tmp_path: pathlib.Path, log: str, message: str) -> None:
    (tmp_path / "log.jsonl").write_text(log)
    (tmp_path / "cat.jsonl").write_text('{"id": "m1", "category": "iyashikei"}\n')
    with pytest.raises(workload.WorkloadError, match=message):
        workload.load(tmp_path / "log.jsonl", tmp_path / "cat.jsonl")


CATALOG = {
    f"m{i}": {"id": f"m{i}", "category": "iyashikei" if i < 5 else "comedy", "themes": []} for i in range(10)
}
LOAD = workload.Workload(sessions=((("calm manga", relevance.Target("iyashikei")),),), catalog=CATALOG)


class FakeRouter:
    """Serves /r/{route}/predictions/{model} and /feedback like the router contract says."""

    def __init__(self, good: bool, fail_every: int = 0) -> None:
        self.good = good
        self.fail_every = fail_every
        self.n = 0
        self.feedback: list[dict[str, Any]] = []
        self.sessions: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/feedback":
            self.feedback.append(json.loads(request.content))
            return httpx.Response(200, json={"accepted": 1})
        assert request.url.path == "/r/manga/predictions/retriever"
        self.n += 1
        if self.fail_every and self.n % self.fail_every == 0:
            return httpx.Response(502, json={"error": "primary down"})
        self.sessions.append(request.headers["X-Session-Id"])
        ids = [f"m{i}" for i in (range(5) if self.good else range(5, 10))]
        variant = "canary" if self.n % 2 else "primary"
        return httpx.Response(
            200,
            json={"items": [{"id": i, "score": 1.0} for i in ids]},
            headers={"X-Request-Id": f"req-{self.n}", "X-Served-By": variant},
        )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def simulate(router: FakeRouter, **kwargs: Any) -> dict[str, Any]:
    settings = runner.Settings(router="http://router", route="manga", model="retriever", **kwargs)
    clock = FakeClock()

    async def go() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(router)) as client:
            sim = runner.Simulator(settings, LOAD, client, clock=clock, sleep=clock.sleep)
            return (await sim.run()).to_dict()

    return asyncio.run(go())


def test_report_counts_what_was_sent() -> None:
    router = FakeRouter(good=True)
    out = simulate(router, max_requests=200, rate=1000, duration_s=60, seed=3)
    assert out["requests"] == out["ok"] == 200
    assert out["clicks"] == len(router.feedback) == out["feedback"]["sent"] == out["feedback"]["accepted"]
    assert {f["event"] for f in router.feedback} == {"click"}
    assert out["impressions"] == 200 and out["no_clicks"] == 200 - out["clicks"]
    assert set(out["by_variant"]) == {"primary", "canary"}
    assert len(set(router.sessions)) == 200  # one-query sessions: a fresh session id each


def test_a_better_model_gets_fewer_no_clicks() -> None:
    good = simulate(FakeRouter(good=True), max_requests=400, rate=1000, seed=1)
    bad = simulate(FakeRouter(good=False), max_requests=400, rate=1000, seed=1)
    assert good["no_click_rate"] < bad["no_click_rate"] - 0.3


def test_deterministic_under_a_seed() -> None:
    # The weak ranking spreads clicks over positions, so different dice show.
    a = simulate(FakeRouter(good=False), max_requests=300, rate=1000, seed=9)
    b = simulate(FakeRouter(good=False), max_requests=300, rate=1000, seed=9)
    c = simulate(FakeRouter(good=False), max_requests=300, rate=1000, seed=10)
    assert a["click_positions"] == b["click_positions"]
    assert a["click_positions"] != c["click_positions"]


def test_bounded_by_duration() -> None:
    out = simulate(FakeRouter(good=True), max_requests=10_000, rate=10, duration_s=2)
    assert out["requests"] == 20


def test_failures_by_kind() -> None:
    out = simulate(FakeRouter(good=True, fail_every=4), max_requests=40, rate=1000)
    assert out["failures"] == {"http_502": 10}
    assert out["ok"] == 30
