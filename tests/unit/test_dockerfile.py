"""The Dockerfile, verified statically (there is no Docker engine here): it parses, it is
multi-stage on a slim Python base with CPU-only torch, runs as non-root with a read-only root
filesystem, has a HEALTHCHECK, names entry points that pyproject declares, and installs what
pyproject describes."""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import tomllib
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

KEYWORDS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
    "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER",
}  # fmt: skip


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse(text: str) -> list[Instruction]:
    """Dockerfile syntax: comments, parser directives, ``\\`` continuations, KEYWORD args."""
    out: list[Instruction] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comments inside a continued instruction are dropped, as docker does
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        keyword, _, args = buf.partition(" ")
        if keyword.upper() not in KEYWORDS:
            raise ValueError(f"line {start}: unknown instruction {keyword!r}")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = ""
    if buf:
        raise ValueError(f"line {start}: instruction continues past the end of the file")
    return out


def stages(instrs: list[Instruction]) -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for i in instrs:
        if i.keyword == "FROM":
            out.append([])
        if not out:
            if i.keyword != "ARG":
                raise ValueError(f"line {i.line}: {i.keyword} before the first FROM")
            continue
        out[-1].append(i)
    return out


def _arg_defaults(instrs: list[Instruction]) -> dict[str, str]:
    out = {}
    for i in instrs:
        if i.keyword == "ARG" and "=" in i.args:
            k, v = i.args.split("=", 1)
            out[k] = v
    return out


def _torch_requirement() -> str:
    reqs = [r for r in PYPROJECT["project"]["dependencies"] if re.match(r"torch\b", r)]
    assert len(reqs) == 1
    return reqs[0]


def problems(text: str) -> list[str]:
    """Everything wrong with a Dockerfile for this project; empty means it passes."""
    try:
        instrs = parse(text)
        st = stages(instrs)
    except ValueError as exc:
        return [f"does not parse: {exc}"]
    found: list[str] = []
    if len(st) < 2:
        found.append("not multi-stage")
    args = _arg_defaults(instrs)
    for stage in st:
        base = stage[0].args.split()[0]
        base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), base)
        if not re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base):
            found.append(f"base image {base!r} is not a slim Python >= 3.11")
    runs = " ".join(i.args for i in instrs if i.keyword == "RUN")
    torch = _torch_requirement()
    if not re.search(r"--index-url https://download\.pytorch\.org/whl/cpu \"?" + re.escape(torch), runs):
        found.append(f"no CPU-only install of {torch!r} from download.pytorch.org/whl/cpu")
    if not re.search(r"pip install \.(\s|$|&)", runs):
        found.append("the project itself is not installed with `pip install .`")
    copied = " ".join(i.args for i in instrs if i.keyword == "COPY" and "--from" not in i.args)
    needed = ["pyproject.toml", PYPROJECT["project"]["readme"]]
    needed += [d.rstrip("/") + "/" for d in PYPROJECT["tool"]["setuptools"]["package-dir"].values()]
    for path in needed:
        if path not in copied.split():
            found.append(f"pyproject needs {path!r} but it is not copied into the build")
    final = st[-1] if st else []
    users = [i.args for i in final if i.keyword == "USER"]
    if not users or users[-1].split(":")[0] in {"0", "root"}:
        found.append("the final stage does not switch to a non-root USER")
    health = [i.args for i in final if i.keyword == "HEALTHCHECK"]
    if not health or health[-1].upper() == "NONE":
        found.append("no HEALTHCHECK in the final stage")
    else:
        cmd = health[-1].split("CMD", 1)[-1].strip()
        if cmd.startswith("["):
            json.loads(cmd)  # exec form must be valid JSON
    env = " ".join(i.args for i in final if i.keyword == "ENV")
    volumes = " ".join(i.args for i in final if i.keyword == "VOLUME")
    home = re.search(r"HOME=(\S+)", env)
    if "TMPDIR=/tmp" not in env or "/tmp" not in volumes:
        found.append("TMPDIR is not a volume: a read-only root filesystem breaks temp files")
    if not home or home.group(1) not in volumes:
        found.append("HOME is not a volume: a read-only root filesystem breaks caches")
    which = [i.args for i in final if i.keyword == "RUN" and i.args.startswith("which ")]
    scripts = set(PYPROJECT["project"]["scripts"])
    named = set(shlex.split(which[0])[1:]) if which else set()
    if not scripts <= named:
        found.append(f"entry points {sorted(scripts - named)} are not checked in the final stage")
    if named - scripts - {"kopf"}:
        found.append(
            f"entry points {sorted(named - scripts - {'kopf'})} are not in pyproject [project.scripts]"
        )
    return found


def test_dockerfile_passes_every_check() -> None:
    assert problems(DOCKERFILE.read_text()) == []


def test_dockerignore_keeps_every_copied_path() -> None:
    lines = [
        ln.strip() for ln in DOCKERIGNORE.read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "**"  # allow-list: only what is re-included goes into the context
    for instr in parse(DOCKERFILE.read_text()):
        if instr.keyword == "COPY" and "--from" not in instr.args:
            for src in instr.args.split()[:-1]:
                assert any(ln.startswith("!" + src.rstrip("/")) for ln in lines), src


GOOD = DOCKERFILE.read_text()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "FROM ${PYTHON_IMAGE} AS build", "FORM ${PYTHON_IMAGE} AS build", "does not parse", id="typo"
        ),
        pytest.param("python:3.11-slim-bookworm", "python:3.11-bookworm", "not a slim Python", id="fat-base"),
        pytest.param(
            "--index-url https://download.pytorch.org/whl/cpu ", "", "no CPU-only install", id="cuda-torch"
        ),
        pytest.param(
            "RUN pip install . &&", "RUN pip install shadowgate &&", "pip install .", id="not-the-project"
        ),
        pytest.param("COPY router/ router/\n", "", "'router/' but it is not copied", id="package-missing"),
        pytest.param("USER 10001:10001", "USER root", "non-root USER", id="root-user"),
        pytest.param("HEALTHCHECK --interval", "LABEL x=1 --interval", "no HEALTHCHECK", id="no-healthcheck"),
        pytest.param(
            'VOLUME ["/tmp", "/home/shadowgate"]', 'VOLUME ["/data"]', "read-only root", id="no-volumes"
        ),
        pytest.param(
            "which shadowgate model-server shadowgate-router kopf",
            "which shadowgate model-server shadowgate-router kopf sg-ghost",
            "'sg-ghost'] are not in pyproject",
            id="unknown-entry-point",
        ),
        pytest.param(
            "which shadowgate model-server shadowgate-router kopf",
            "which shadowgate kopf",
            "are not checked",
            id="entry-point-unchecked",
        ),
    ],
)
def test_checks_catch_a_broken_dockerfile(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    found = problems(GOOD.replace(old, new))
    assert any(expected in p for p in found), found
