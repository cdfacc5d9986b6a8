"""The one transition function: ``(status, observations, now) -> (next status, actions)``.

Every phase change of a Candidate happens here and nowhere else. The controller applies the
returned actions first and patches the returned status second, so an operator killed between
the two recomputes the same decision from the same status and repeats only idempotent actions;
the history entry is written once, with the status that records the new phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shadowgate.core.lifecycle import conditions, gating, rollout
from shadowgate.core.lifecycle.observations import (
    Action,
    EnsureWorkload,
    Observations,
    RestoreRoutes,
)
from shadowgate.core.lifecycle.phases import InconclusiveAction, Phase
from shadowgate.core.lifecycle.run import fresh_analysis
from shadowgate.core.lifecycle.status import Status

# Timer ticks jitter by a few tens of milliseconds; an analysis 50 ms early is still due.
_DUE_SLACK_S = 0.05


@dataclass(frozen=True)
class Decision:
    status: Status
    actions: tuple[Action, ...]


def analysis_due(status: Status, interval_s: float, now: datetime) -> bool:
    """Whether the controller should evaluate gates before calling ``transition``."""
    if not status.phase.analysing:
        return False
    if status.last_analysis is None:
        return True
    return (now - status.last_analysis).total_seconds() >= interval_s - _DUE_SLACK_S


def transition(status: Status, obs: Observations, now: datetime) -> Decision:
    return _Run(status, obs, now).decide()


class _Run(rollout.Rollout):
    def decide(self) -> Decision:
        if not self.s.phase.terminal:
            self.step()
        self.update(conditions=conditions.derive(self.s, self.now))
        return Decision(status=self.s, actions=tuple(self.actions))

    # -- the rules, in priority order ------------------------------------------------------

    def step(self) -> None:
        spec, phase = self.spec, self.s.phase
        if spec.abort:
            self.cleanup()
            message = f"aborted by spec.abort in {phase}{self.abandon()}"
            self.goto(Phase.ABORTED, "Aborted", message, warning=True)
            return
        if self.obs.spec_error:
            message = self.obs.spec_error
            if phase.holds_target:
                self.cleanup()
                message += self.abandon()
            self.goto(Phase.FAILED, "InvalidSpec", message, True, fingerprint=spec.fingerprint)
            return
        if not self.s.fingerprint or not phase.holds_target:
            self.update(fingerprint=spec.fingerprint)
        elif self.s.fingerprint != spec.fingerprint:
            self.restart()
            return
        if not self.obs.target_found:
            if phase.holds_target:
                self.cleanup()
            message = self.obs.target_message or "target not found"
            self.goto(Phase.FAILED, self.obs.target_reason, message, True)
            return
        resumable = self.s.paused_from if phase is Phase.PAUSED else phase
        if spec.approve and resumable is not None and resumable.approvable:
            self.promote("Approved", "promotion approved by spec.approve")
            return
        if phase is Phase.PAUSED or (spec.paused and phase.pausable):
            self.paused()
            return
        handler = _PHASES.get(phase)
        if handler is not None:
            handler(self)

    def restart(self) -> None:
        gen = self.obs.generation
        if self.s.routes_touched:
            self.actions.append(RestoreRoutes())
        undone = self.abandon()  # a half-done promotion of the old spec is taken back first
        self.actions.append(EnsureWorkload())
        self.goto(
            Phase.DEPLOYING,
            "SpecChanged",
            f"generation {gen} changed the spec: analysis restarts from Deploying{undone}",
            **fresh_analysis(),
            production_before=None,
            production_promotion=None,
            fingerprint=self.spec.fingerprint,
            routes_touched=False,
            paused_from=None,
            paused_by="",
        )

    def paused(self) -> None:
        if self.s.phase is not Phase.PAUSED:
            self.goto(
                Phase.PAUSED,
                "Paused",
                f"paused by spec.paused in {self.s.phase}",
                paused_from=self.s.phase,
                paused_by="user",
            )
            return
        if self.spec.paused:
            if self.s.paused_by != "user":
                self.update(paused_by="user")  # the user now owns the pause
            return
        if self.s.paused_by == "user" and self.s.paused_from is not None:
            # The step's clock restarts: evidence gathered while paused is not step evidence.
            self.goto(
                self.s.paused_from,
                "Resumed",
                f"resumed {self.s.paused_from}",
                paused_from=None,
                paused_by="",
                step_since=self.now,
                last_analysis=self.now,
            )

    # -- phases ----------------------------------------------------------------------------

    def analysing(self) -> None:
        workload = self.obs.candidate
        if not workload.available:
            since = self.s.unavailable_since or self.now
            self.update(unavailable_since=since)
            if self.elapsed(since) >= self.spec.analysis_interval_s:
                self.cleanup()
                self.goto(
                    Phase.FAILED,
                    "CandidateUnavailable",
                    workload.failure or "the candidate's Deployment stopped being Available",
                    True,
                )
                return
        elif self.s.unavailable_since is not None:
            self.update(unavailable_since=None)
        if self.obs.gates is None:
            return
        result = gating.fold(
            self.s.gates,
            self.obs.gates,
            str(self.s.phase),
            self.spec.failure_limit,
            self.now,
            self.spec.gate_limits,
        )
        self.update(gates=result.gates, last_analysis=self.now)
        if result.failed:
            self.rollback("GateFailed", "; ".join(gating.describe(g) for g in result.failed))
        elif result.inconclusive:
            self.inconclusive(result)
        else:
            self.update(inconclusive_count=0, query_error_count=0)
            self.progress()

    def inconclusive(self, result: gating.Analysis) -> None:
        count = self.s.inconclusive_count + 1
        errors = self.s.query_error_count + 1 if result.query_errors else 0
        detail = "; ".join(gating.describe(g) for g in result.inconclusive)
        self.update(
            inconclusive_count=count,
            query_error_count=errors,
            reason="GateInconclusive",
            message=f"holding: {detail}",
        )
        if count == 1:
            self.emit("GateInconclusive", detail)
        error_limit = self.spec.query_error_limit
        if error_limit is not None and errors >= error_limit:
            # An outage has its own, usually shorter, patience than a slow test.
            self.at_limit(
                "QueryErrorLimit", f"query errors in {errors} analyses: {detail}", errors == error_limit
            )
        elif count >= self.spec.inconclusive_limit:
            why = f"inconclusive for {count} analyses: {detail}"
            self.at_limit("InconclusiveLimit", why, count == self.spec.inconclusive_limit)

    def at_limit(self, reason: str, why: str, first: bool) -> None:
        """The Candidate's ``policy.inconclusive.action``; ``hold`` warns once, on reaching it."""
        action = self.spec.inconclusive_action
        if action is InconclusiveAction.ROLLBACK:
            self.rollback(reason, why)
        elif action is InconclusiveAction.PAUSE:
            self.goto(Phase.PAUSED, reason, why, True, paused_from=self.s.phase, paused_by="policy")
        elif first:
            self.emit(reason, f"holding as policy says: {why}", True)

    def progress(self) -> None:
        phase = self.s.phase
        if phase is Phase.EVALUATING:
            self.emit("EvaluationPassed", "offline gates passed")
            self.after_evaluation()
        elif phase is Phase.SHADOW:
            if self.met(self.s.phase_since, self.spec.shadow_duration_s, self.spec.shadow_min_requests):
                self.after_shadow()
        elif phase is Phase.CANARY and self.s.step is not None:
            if not self.met(self.s.step_since, self.spec.step_min_duration_s, self.spec.step_min_samples):
                return
            if self.s.step + 1 < len(self.spec.canary_steps):
                self.enter_step(self.s.step + 1)
            else:
                self.ready_to_promote()

    def met(self, since: datetime | None, min_duration_s: float, min_samples: int) -> bool:
        """The phase's or step's minimum duration and minimum samples are both reached."""
        return self.elapsed(since) >= min_duration_s and (self.obs.samples or 0) >= min_samples


_PHASES = {
    Phase.PENDING: _Run.pending,
    Phase.QUEUED: _Run.queued,
    Phase.DEPLOYING: _Run.deploying,
    Phase.EVALUATING: _Run.analysing,
    Phase.SHADOW: _Run.analysing,
    Phase.CANARY: _Run.analysing,
    Phase.PROMOTING: _Run.promoting,
    Phase.ROLLING_BACK: _Run.rolling_back,
}
