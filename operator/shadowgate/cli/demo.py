"""``shadowgate demo``: the main job end to end on the local stack (``shadowgate.demo``).

Exit codes: 0 the good Candidate was promoted and the degraded one rolled back with no failed
user request; 1 the scenario ran but an outcome differs (printed); 2 bad arguments; 3 a step
failed (stack, chart, operator, router, timeout), with the reason and the log to read.
"""

from __future__ import annotations

import argparse
import pathlib
import signal
import sys
from typing import Any

EXIT_OUTCOME = 1
EXIT_USAGE = 2
EXIT_FAILED = 3


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the main job end to end on the local stack")
    p.add_argument("--state-dir", type=pathlib.Path, help="the demo stack's state folder")
    p.add_argument("--models-dir", type=pathlib.Path, help="where model archives are built (cached)")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("artifacts/demo"), help="reports go here")
    p.add_argument("--keep-up", action="store_true", help="leave the stack running at the end")
    p.add_argument("--rate", type=float, default=15.0, help="simulated user requests per second (default 15)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--timeout", type=float, default=420.0, help="seconds each Candidate may take (default 420)"
    )
    p.set_defaults(func=run)


def _err(message: str) -> None:
    print(f"shadowgate demo: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from shadowgate.demo import scenario, settings

    extra: dict[str, Any] = {}
    if args.state_dir:
        extra["state_dir"] = args.state_dir
    if args.models_dir:
        extra["models_dir"] = args.models_dir
    if not args.timeout > 0:
        _err(f"--timeout must be > 0, got {args.timeout}")
        return EXIT_USAGE
    try:
        config = settings.Settings(
            out_dir=args.out, keep_up=args.keep_up, rate=args.rate, seed=args.seed,
            phase_timeout_s=args.timeout, **extra,
        )  # fmt: skip
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE

    def say(line: str) -> None:
        print(line, flush=True)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGTERM (and SIGINT even where a background shell ignored it) unwind through the scenario's
    # clean-up, which stops the simulated users and then, unless --keep-up, the stack (its node
    # agent ends the operator, router and model-server Pods' processes).
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)

    try:
        result = scenario.run(config, say)
    except KeyboardInterrupt:
        _err("interrupted; cleaned up")
        return EXIT_FAILED
    except Exception as exc:  # each step's errors name the step and the log to read
        _err(f"{type(exc).__name__}: {exc}")
        return EXIT_FAILED
    phases = [c.phase for c in result.candidates]
    say(
        f"demo finished in {result.wall_s:.0f} s; outcomes {phases}; "
        f"{result.traffic.failed} failed user requests"
    )
    if phases != ["Promoted", "RolledBack"] or result.traffic.failed:
        _err("unexpected outcome: want Promoted then RolledBack with no failed user request")
        return EXIT_OUTCOME
    return 0
