"""Entry point of the ``shadowgate`` CLI.

Each subcommand lives in its own module under ``shadowgate.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed namespace and returning an exit code. Modules are imported only when ``main`` runs,
so importing the package stays cheap and side-effect free.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order is the order of ``shadowgate --help``. Add a subcommand by adding its module here.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "shadowgate.cli.dev",
    "shadowgate.cli.report",
    "shadowgate.cli.evaluate",
    "shadowgate.cli.simulate",
    "shadowgate.cli.operator",
    "shadowgate.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shadowgate",
        description="Shadow-deploy, canary and promote ML model candidates on Kubernetes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return int(func(args))
