"""``shadowgate report CANDIDATE -n NS --prometheus URL --out DIR``: a rollout as PNG + HTML.

Thin: parse flags, read the Candidate (API server, or ``--from-file`` for a recorded object),
call ``shadowgate.report.build.write_report``, print the two paths. Exit codes: 0 written,
1 an input is wrong or unreachable (the message names it), 2 bad flags (argparse).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "report", help="render a Candidate's rollout as a PNG and a self-contained HTML page"
    )
    parser.add_argument("candidate", help="the Candidate's name")
    parser.add_argument("-n", "--namespace", default="default", help="the Candidate's namespace")
    parser.add_argument(
        "--prometheus",
        default=os.environ.get("SHADOWGATE_PROMETHEUS_URL", ""),
        help="Prometheus base URL (default: $SHADOWGATE_PROMETHEUS_URL)",
    )
    parser.add_argument("--out", default=".", type=pathlib.Path, help="output directory (created if missing)")
    parser.add_argument(
        "--kubeconfig", default=None, help="kubeconfig (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument(
        "--from-file",
        type=pathlib.Path,
        default=None,
        help="read the Candidate from a `kubectl get -o json|yaml` file instead of the API server",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # Imported here so `shadowgate --help` stays fast and free of matplotlib's start-up.
    from shadowgate.report import candidates
    from shadowgate.report.build import write_report
    from shadowgate.report.model import ReportError
    from shadowgate.report.prometheus import HttpPrometheus

    try:
        if not args.prometheus:
            raise ReportError("no Prometheus: pass --prometheus URL or set SHADOWGATE_PROMETHEUS_URL")
        source = HttpPrometheus(args.prometheus)
        if args.from_file is not None:
            cr = candidates.from_file(args.from_file)
            name = cr.get("metadata", {}).get("name")
            if name != args.candidate:
                raise ReportError(f"{args.from_file} holds Candidate {name!r}, not {args.candidate!r}")
        else:
            cr = candidates.from_cluster(args.candidate, args.namespace, args.kubeconfig)
        written = write_report(cr, source, args.out)
    except ReportError as exc:
        print(f"shadowgate report: {exc}", file=sys.stderr)
        return 1
    for warning in written.data.warnings:
        print(f"shadowgate report: warning: {warning}", file=sys.stderr)
    print(written.png)
    print(written.html)
    return 0
