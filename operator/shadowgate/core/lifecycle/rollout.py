"""The rollout's steps: queueing, deploying, entering shadow and canary steps, promoting and
rolling back. Each step records what it decided in status and asks for the actions it needs.
"""

from __future__ import annotations

from shadowgate.core.lifecycle import production
from shadowgate.core.lifecycle.observations import (
    DeleteWorkload,
    EnsureWorkload,
    PromoteProduction,
    RecordRollback,
    RestoreRoutes,
    RevertProduction,
    SetRoutes,
)
from shadowgate.core.lifecycle.phases import Phase, Promotion
from shadowgate.core.lifecycle.run import Run, fresh_analysis
from shadowgate.core.lifecycle.status import format_time


class Rollout(Run):
    def pending(self) -> None:
        if self.obs.queue_ahead > 0:
            self.goto(Phase.QUEUED, "Queued", f"{self.obs.queue_ahead} candidate(s) ahead for the target")
        else:
            self.deploy()

    def queued(self) -> None:
        if self.obs.queue_ahead == 0:
            self.deploy()
        else:
            self.update(message=f"{self.obs.queue_ahead} candidate(s) ahead for the target")

    def deploy(self) -> None:
        self.actions.append(EnsureWorkload())
        self.goto(Phase.DEPLOYING, "Deploying", "creating the candidate's model-server Deployment")

    def deploying(self) -> None:
        workload = self.obs.candidate
        if workload.available:
            self.emit("DeploymentReady", "the candidate's Deployment is Available")
            self.after_deploy()
        elif workload.failure:
            self.cleanup()
            self.goto(Phase.FAILED, "DeploymentFailed", workload.failure, True)
        elif self.elapsed(self.s.phase_since) > self.spec.deploy_timeout_s:
            self.cleanup()
            self.goto(
                Phase.FAILED,
                "DeploymentTimedOut",
                f"not Available within {self.spec.deploy_timeout_s:g}s",
                True,
            )
        elif not workload.exists:
            # Created on entry; recreate only if it vanished (each ensure is several API calls).
            self.actions.append(EnsureWorkload())

    def after_deploy(self) -> None:
        if self.spec.evaluation_enabled:
            self.goto(Phase.EVALUATING, "Evaluating", "offline golden-set evaluation", **fresh_analysis())
        else:
            self.after_evaluation()

    def after_evaluation(self) -> None:
        if self.spec.shadow_enabled:
            pct = self.spec.mirror_percent
            self.actions.append(SetRoutes(primary_weight=100, canary_weight=0, mirror_percent=pct))
            self.goto(
                Phase.SHADOW,
                "ShadowStarted",
                f"mirroring {pct}% of traffic to the candidate",
                weight=0,
                mirror_percent=pct,
                routes_touched=True,
                **fresh_analysis(self.now),
            )
        else:
            self.after_shadow()

    def after_shadow(self) -> None:
        if self.spec.canary_steps:
            self.enter_step(0)
        else:
            self.ready_to_promote()

    def enter_step(self, index: int) -> None:
        weight = self.spec.canary_steps[index]
        self.actions.append(SetRoutes(primary_weight=100 - weight, canary_weight=weight, mirror_percent=0))
        message = f"step {index + 1}/{len(self.spec.canary_steps)}: {weight}% of traffic to the candidate"
        changes = dict(
            step=index,
            step_since=self.now,
            weight=weight,
            mirror_percent=0,
            routes_touched=True,
            **fresh_analysis(self.now),
        )
        if self.s.phase is Phase.CANARY:
            self.update(reason="StepAdvanced", message=message, **changes)
            self.emit("StepAdvanced", message)
        else:
            self.goto(Phase.CANARY, "StepAdvanced", message, **changes)

    def ready_to_promote(self) -> None:
        if self.spec.promotion is Promotion.AUTO:
            self.promote("Promoting", "all gates passed")
        elif self.s.reason != "AwaitingApproval":
            self.update(reason="AwaitingApproval", message="all gates passed; set spec.approve to promote")
            self.emit("AwaitingApproval", self.s.message)

    def promote(self, reason: str, message: str) -> None:
        # Production is not touched in this reconcile: first the status records what it serves
        # now, so an operator killed right after the promotion patch still knows what to revert
        # to. The next reconcile (in Promoting) writes the promotion.
        self.goto(
            Phase.PROMOTING,
            reason,
            f"{message}: rolling the production Deployment to the candidate",
            production_before=self.obs.production,
            production_promotion=self.obs.production_promotion,
        )

    def rollback(self, reason: str, message: str) -> None:
        touched = self.s.routes_touched
        self.cleanup()
        if touched:
            self.actions.append(RecordRollback(failed_at=format_time(self.now)))
        self.goto(Phase.ROLLING_BACK, reason, message, True, failed_at=self.now, weight=0, mirror_percent=0)

    def rolling_back(self) -> None:
        if self.obs.candidate.exists:
            self.cleanup()
        else:
            self.goto(
                Phase.ROLLED_BACK, "RolledBack", f"rolled back: {self.s.message}", True, routes_touched=False
            )

    def promoting(self) -> None:
        state = self.production_state()
        if self.obs.production_promoted:
            self.actions.extend((RestoreRoutes(), DeleteWorkload()))
            self.goto(
                Phase.PROMOTED,
                "Promoted",
                "production serves the candidate's model",
                weight=0,
                mirror_percent=0,
                step=None,
                routes_touched=False,
            )
        elif self.elapsed(self.s.phase_since) > self.spec.promote_timeout_s:
            self.promotion_timed_out()
        elif state is None or state is production.State.BEFORE:
            self.actions.append(PromoteProduction(template=self.s.production_promotion))
        elif state is production.State.FOREIGN and self.s.reason != "ProductionChanged":
            # Someone else rewrote production mid-promotion: theirs wins, nothing is re-applied.
            self.update(reason="ProductionChanged", message=_FOREIGN)
            self.emit("ProductionChanged", _FOREIGN, True)

    def production_state(self) -> production.State | None:
        """None without a record of production before the promotion (a Candidate that began
        promoting under an older operator) or without production to compare."""
        before, promoted, current = self.s.production_before, self.s.production_promotion, self.obs.production
        if before is None or promoted is None or current is None:
            return None
        return production.classify(current, before, promoted)

    def promotion_timed_out(self) -> None:
        """Traffic back on the primary, the candidate removed, and production's template put
        back to what it served before, unless someone else changed it meanwhile."""
        why = f"production rollout not Available within {self.spec.promote_timeout_s:g}s"
        if self.obs.production_rollout:
            why += f" ({self.obs.production_rollout})"
        self.cleanup()  # users back on the primary first, then production's template
        outcome = self.undo_promotion()
        self.goto(Phase.FAILED, "PromotionTimedOut", f"{why}; {outcome}", True, weight=0, mirror_percent=0)

    def abandon(self) -> str:
        """Leaving Promoting for anything but Promoted: undo the promotion (``undo_promotion``)
        and say so, as a suffix for the transition's message; nothing in other phases."""
        return f"; {self.undo_promotion()}" if self.s.phase is Phase.PROMOTING else ""

    def undo_promotion(self) -> str:
        """Revert production if it is what this operator's promotion wrote; say what became of it."""
        before, state = self.s.production_before, self.production_state()
        if before is not None and state is production.State.PROMOTED:
            self.actions.append(RevertProduction(template=before))
        if before is not None and state in (production.State.PROMOTED, production.State.BEFORE):
            # Same words whether this reconcile reverts or a replay finds it reverted already.
            return f"production's template is back to what it served before ({production.describe(before)})"
        if state is production.State.FOREIGN:
            return _FOREIGN
        return "production is left as is: no record of what it served before the promotion"


_FOREIGN = (
    "production's template was changed by someone else during the promotion; "
    "the operator neither re-applies nor reverts it"
)
