"""Finding and (when missing) building the pinned binaries, against a stand-in build script."""

from __future__ import annotations

import pathlib

import pytest
from shadowgate.devstack import binaries

# Stands in for hack/build-binaries.sh: same --print-dir contract, "builds" by touching files.
FAKE_SCRIPT = """#!/bin/sh
set -e
dir="{bin}"
if [ "$1" = "--print-dir" ]; then echo "$dir"; exit 0; fi
mkdir -p "$dir"
for b in {names}; do printf '#!/bin/sh\\n' > "$dir/$b"; chmod +x "$dir/$b"; done
echo built >> "{marker}"
"""


def _fake_repo(tmp_path: pathlib.Path, names: tuple[str, ...] = binaries.REQUIRED) -> pathlib.Path:
    repo = tmp_path / "repo"
    (repo / "hack").mkdir(parents=True)
    script = repo / "hack" / "build-binaries.sh"
    script.write_text(
        FAKE_SCRIPT.format(bin=tmp_path / "bin", names=" ".join(names), marker=tmp_path / "builds.log")
    )
    script.chmod(0o755)
    return repo


def test_missing_binaries_are_built_once_and_announced(tmp_path: pathlib.Path) -> None:
    env = {"SHADOWGATE_REPO": str(_fake_repo(tmp_path))}
    messages: list[str] = []
    assert binaries.ensure(messages.append, env) == tmp_path / "bin"
    assert binaries.missing(tmp_path / "bin") == []
    assert len(messages) == 1 and messages[0].startswith("building the pinned binaries")
    binaries.ensure(messages.append, env)  # cached now: no second build, no message
    assert (tmp_path / "builds.log").read_text().count("built") == 1
    assert len(messages) == 1


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(
            lambda tmp: {"SHADOWGATE_REPO": str(_fake_repo(tmp, ("etcd",)))},
            "still lacks kube-apiserver",
            id="build-left-gaps",
        ),
        pytest.param(lambda tmp: {"SHADOWGATE_BIN_DIR": str(tmp)}, "lacks etcd", id="explicit-bin-dir-empty"),
    ],
)
def test_unusable_binaries_are_named(tmp_path: pathlib.Path, setup: object, message: str) -> None:
    env = setup(tmp_path)  # type: ignore[operator]
    with pytest.raises(binaries.BinariesError, match=message):
        binaries.ensure(lambda _m: None, env)


def test_repo_root_from_package_location() -> None:
    root = binaries.repo_root({})
    assert (root / "hack" / "build-binaries.sh").is_file()
    assert (root / "operator" / "shadowgate").is_dir()
