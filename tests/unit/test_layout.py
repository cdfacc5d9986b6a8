"""The repository layout keeps the standard library's ``operator`` module reachable."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_operator_dir_is_not_a_package() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()


def test_stdlib_operator_resolves_inside_pytest() -> None:
    import operator

    assert operator.itemgetter(1)([0, 7]) == 7
    assert pathlib.Path(operator.__file__ or "").parent != ROOT / "operator"


def test_stdlib_operator_resolves_from_repo_root() -> None:
    # A fresh interpreter with the repo root first on sys.path, as `python -c` from the
    # root has it: the stdlib module must still win over the operator/ folder.
    code = "import operator, sys; print(operator.__file__); operator.itemgetter(0)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert str(ROOT / "operator") not in out.stdout


def test_shadowgate_package_lives_under_operator() -> None:
    import shadowgate

    assert pathlib.Path(shadowgate.__file__).parent == ROOT / "operator" / "shadowgate"


def test_test_module_basenames_are_unique() -> None:
    # pytest's default import mode puts each test folder on sys.path and imports test modules by
    # basename, so two test_x.py files in different folders break collection of the whole suite.
    seen: dict[str, pathlib.Path] = {}
    clashes = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name == "__init__.py" or path.name == "conftest.py":
            continue
        if path.name in seen:
            clashes.append(f"{seen[path.name].relative_to(ROOT)} and {path.relative_to(ROOT)}")
        seen.setdefault(path.name, path)
    assert not clashes, "test modules share a basename (rename one): " + "; ".join(clashes)
