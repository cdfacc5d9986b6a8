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
from types import ModuleType

# Order is the order of ``shadowgate --help``. Add a subcommand by adding its module here.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "shadowgate.cli.dev",
    "shadowgate.cli.report",
    "shadowgate.cli.evaluate",
    "shadowgate.cli.simulate",
    "shadowgate.cli.operator",
    "shadowgate.cli.demo",
)
# Subcommands that drive dev tooling the images leave out (Dockerfile.control-plane.dockerignore):
# where their package is absent they are not offered, instead of failing `shadowgate --help`.
DEV_ONLY: dict[str, str] = {
    "shadowgate.cli.dev": "shadowgate.devstack",
    "shadowgate.cli.demo": "shadowgate.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shadowgate",
        description="Shadow-deploy, canary and promote ML model candidates on Kubernetes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        module = _subcommand(name)
        if module is not None:
            module.register(sub)
    return parser


def _subcommand(name: str) -> ModuleType | None:
    """The subcommand's module, or None for a dev-only one whose package is not installed."""
    needed = DEV_ONLY.get(name)
    try:
        if needed:
            importlib.import_module(needed)  # the package's __init__ is a docstring: cheap
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if needed and (missing == needed or missing.startswith(needed + ".")):
            return None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return int(func(args))
