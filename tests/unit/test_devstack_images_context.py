"""The build context and its hash: which files an image build reads, and when it must rebuild."""

from __future__ import annotations

import os
import pathlib

import pytest
from shadowgate.devstack import images_context as ctx

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        pytest.param("**", "a/b/c.py", True, id="everything"),
        pytest.param("**\n!a/**", "a/b/c.py", False, id="allow-listed-folder"),
        pytest.param("**\n!a/**", "ab/c.py", True, id="prefix-is-not-the-folder"),
        pytest.param("**\n!a/**\na/b", "a/b/c.py", True, id="parent-folder-excluded-again"),
        pytest.param("**\n!a/**\na/b", "a/bc.py", False, id="sibling-of-excluded-folder"),
        pytest.param("**\n!pyproject.toml", "pyproject.toml", False, id="one-file"),
        pytest.param("**/__pycache__", "a/b/__pycache__/c.pyc", True, id="any-depth-folder"),
        pytest.param("**/__pycache__", "__pycache__/c.pyc", True, id="double-star-matches-no-folder"),
        pytest.param("**/*.pyc", "a/c.pyc", True, id="any-depth-glob"),
        pytest.param("*.pyc", "a/c.pyc", False, id="single-star-stays-in-folder"),
        pytest.param("a/?.py", "a/b.py", True, id="question-mark"),
        pytest.param("a/[bc].py", "a/c.py", True, id="class"),
        pytest.param("a/[^bc].py", "a/c.py", False, id="negated-class"),
        pytest.param("/docs\n# comment\n\n", "docs/x.md", True, id="leading-slash-and-comments"),
        pytest.param("docs/\n", "docs/x.md", True, id="trailing-slash"),
    ],
)
def test_ignore_patterns_follow_docker(patterns: str, path: str, excluded: bool) -> None:
    assert ctx.excluded(ctx.parse_ignore(patterns), path) is excluded


def test_an_unterminated_class_is_named() -> None:
    with pytest.raises(ctx.ContextError, match=r"unterminated character class in pattern 'a\[b'"):
        ctx.parse_ignore("a[b")


def _tree(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


REPO = {
    "pyproject.toml": "[project]\n",
    "README.md": "readme\n",
    "Dockerfile": "FROM x\n",
    "operator/shadowgate/__init__.py": "",
    "operator/shadowgate/cli/main.py": "main\n",
    "operator/shadowgate/devstack/stack.py": "dev only\n",
    "operator/shadowgate/demo/scenario.py": "dev only\n",
    "operator/shadowgate/cli/__pycache__/main.cpython-311.pyc": "junk\n",
    "router/app.py": "router\n",
    "model_server/cli.py": "server\n",
    "docs/x.md": "docs\n",
    ".venv/lib/site.py": "venv\n",
}


@pytest.mark.parametrize(
    ("ignorefile", "expected"),
    [
        pytest.param(
            "Dockerfile.control-plane.dockerignore",
            [
                "operator/shadowgate/__init__.py",
                "operator/shadowgate/cli/main.py",
                "pyproject.toml",
                "router/app.py",
            ],
            id="control-plane",
        ),
        pytest.param(".dockerignore", ["model_server/cli.py", "pyproject.toml"], id="model-server"),
    ],
)
def test_the_repo_ignore_files_send_only_the_product(
    tmp_path: pathlib.Path, ignorefile: str, expected: list[str]
) -> None:
    """The dev tooling, the docs, the README and caches never reach a build (or its hash)."""
    _tree(tmp_path, REPO)
    patterns = ctx.parse_ignore((ROOT / ignorefile).read_text())
    assert sorted(ctx.context_files(tmp_path, patterns)) == expected


def test_folders_nothing_can_come_back_from_are_not_walked(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path, REPO)
    walked: list[str] = []
    real_walk = os.walk

    def spy(top: str | os.PathLike[str]) -> object:
        for folder, dirs, files in real_walk(top):
            walked.append(os.path.relpath(folder, tmp_path))
            yield folder, dirs, files

    monkeypatch.setattr(ctx.os, "walk", spy)
    list(ctx.context_files(tmp_path, ctx.parse_ignore("**\n!router/**\n")))
    assert walked == [".", "router"]


def _key(root: pathlib.Path, args: dict[str, str] | None = None, base: str = "sha256:b") -> str:
    return ctx.build_key(
        root / "Dockerfile", root / ".dockerignore", root, args or {"PYTHON_IMAGE": "p"}, base
    )


@pytest.fixture
def repo(tmp_path: pathlib.Path) -> pathlib.Path:
    _tree(tmp_path, REPO)
    (tmp_path / ".dockerignore").write_text("**\n!pyproject.toml\n!router/**\n**/__pycache__\n")
    return tmp_path


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda r: (r / "router/app.py").write_text("changed\n"), id="source-edit"),
        pytest.param(lambda r: (r / "router/new.py").write_text(""), id="new-source-file"),
        pytest.param(lambda r: (r / "router/app.py").unlink(), id="deleted-source-file"),
        pytest.param(lambda r: (r / "router/app.py").chmod(0o755), id="mode"),
        pytest.param(lambda r: (r / "router/link.py").symlink_to("app.py"), id="symlink"),
        pytest.param(lambda r: (r / "Dockerfile").write_text("FROM y\n"), id="dockerfile"),
        pytest.param(lambda r: (r / ".dockerignore").write_text("**\n!router/**\n"), id="ignore-file"),
    ],
)
def test_a_change_the_build_reads_changes_the_key(repo: pathlib.Path, change: object) -> None:
    before = _key(repo)
    change(repo)  # type: ignore[operator]
    assert _key(repo) != before


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda r: (r / "README.md").write_text("new numbers\n"), id="readme"),
        pytest.param(lambda r: (r / "docs/y.md").write_text(""), id="docs"),
        pytest.param(lambda r: (r / "model_server/cli.py").write_text("x\n"), id="other-image-source"),
        pytest.param(lambda r: (r / "router/__pycache__").mkdir(), id="pycache"),
        pytest.param(lambda r: os.utime(r / "router/app.py", (1, 1)), id="mtime-only"),
    ],
)
def test_a_change_the_build_does_not_read_keeps_the_key(repo: pathlib.Path, change: object) -> None:
    before = _key(repo)
    change(repo)  # type: ignore[operator]
    assert _key(repo) == before


def test_build_args_and_the_base_digest_are_inputs(repo: pathlib.Path) -> None:
    keys = {
        _key(repo),
        _key(repo, args={"PYTHON_IMAGE": "other"}),
        _key(repo, args={"PYTHON_IMAGE": "p", "TORCH_INDEX_URL": "https://pypi.org/simple"}),
        _key(repo, base="sha256:c"),
    }
    assert len(keys) == 4


def test_a_context_the_ignore_file_empties_is_an_error(repo: pathlib.Path) -> None:
    (repo / ".dockerignore").write_text("**\n")
    with pytest.raises(ctx.ContextError, match="lets no file"):
        _key(repo)


def test_a_missing_dockerfile_is_named(repo: pathlib.Path) -> None:
    (repo / "Dockerfile").unlink()
    with pytest.raises(ctx.ContextError, match=r"cannot read .*Dockerfile"):
        _key(repo)
