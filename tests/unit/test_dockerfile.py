"""The two Dockerfiles' promises that a build alone does not check.

The images are built and their entry points run in tests/integration/test_images.py; what
stays here is what a working build would not catch: the runtime runs as non-root on a
read-only root filesystem, the entry points each image promises (and no others), every stage
on the ``PYTHON_IMAGE`` build argument, the dependency layer before any project code (so a code
change never reinstalls torch), the torch index a build argument, and a context that holds
what each COPY names.
"""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import tomllib
from dataclasses import dataclass

import pytest
from shadowgate.devstack import images, images_context

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])

KEYWORDS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
    "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER",
}  # fmt: skip


@dataclass(frozen=True)
class Image:
    """One Dockerfile and what its image promises."""

    dockerfile: str
    entry_points: frozenset[str]
    torch: bool


IMAGES = {
    "model-server": Image("Dockerfile", frozenset({"model-server"}), torch=True),
    "control-plane": Image(
        "Dockerfile.control-plane", frozenset({"shadowgate", "shadowgate-router", "kopf"}), torch=False
    ),
}


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


def _copy_sources(i: Instruction) -> list[str]:
    return [w for w in shlex.split(i.args) if not w.startswith("--")][:-1]


def problems(text: str, image: Image, ignore_text: str) -> list[str]:
    """Everything wrong with a Dockerfile for this image; empty means it passes."""
    try:
        instrs = parse(text)
        st = stages(instrs)
    except ValueError as exc:
        return [f"does not parse: {exc}"]
    found: list[str] = []
    args = {
        i.args.split("=", 1)[0]: i.args.split("=", 1)[1]
        for i in instrs
        if i.keyword == "ARG" and "=" in i.args
    }
    if not re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", args.get("PYTHON_IMAGE", "")):
        found.append("PYTHON_IMAGE does not default to a slim Python >= 3.11")
    for stage in st:
        if stage[0].args.split()[0] != "${PYTHON_IMAGE}":
            found.append(f"line {stage[0].line}: a stage not on ${{PYTHON_IMAGE}} (the local base)")
    final = st[-1] if st else []
    users = [i.args for i in final if i.keyword == "USER"]
    if not users or users[-1].split(":")[0] in {"0", "root"}:
        found.append("the final stage does not switch to a non-root USER")
    env = " ".join(i.args for i in final if i.keyword == "ENV")
    volumes = " ".join(i.args for i in final if i.keyword == "VOLUME")
    home = re.search(r"HOME=(\S+)", env)
    if "TMPDIR=/tmp" not in env or "/tmp" not in volumes:
        found.append("TMPDIR is not a volume: a read-only root filesystem breaks temp files")
    if not home or home.group(1) not in volumes:
        found.append("HOME is not a volume: a read-only root filesystem breaks caches")
    health = [i.args for i in final if i.keyword == "HEALTHCHECK"]
    if health and health[-1].split("CMD", 1)[-1].strip().startswith("["):
        try:
            json.loads(health[-1].split("CMD", 1)[-1].strip())
        except json.JSONDecodeError:
            found.append("the HEALTHCHECK's exec form is not JSON")
    runs = [i for i in final if i.keyword == "RUN"]
    which = [i.args for i in runs if i.args.startswith("which ")]
    named = set(shlex.split(which[0])[1:]) if which else set()
    if named != image.entry_points:
        found.append(
            f"the final stage checks entry points {sorted(named)},"
            f" the image promises {sorted(image.entry_points)}"
        )
    removed = set(
        re.findall(r"/opt/venv/bin/([\w-]+)", " ".join(i.args for i in runs if " rm " in f" {i.args}"))
    )
    if removed != SCRIPTS - image.entry_points:
        found.append(
            f"entry points {sorted(SCRIPTS - image.entry_points - removed)} are left in but cannot run"
        )
    deps = next(
        (n for n, i in enumerate(final) if i.keyword == "RUN" and "-r /opt/requirements/" in i.args), None
    )
    code = next(
        (n for n, i in enumerate(final) if i.keyword == "COPY" and "--from=requirements" not in i.args), None
    )
    if deps is None:
        found.append("the final stage installs no dependency list")
    elif code is not None and code < deps:
        found.append("project files are copied before the dependencies: a code change reinstalls them")
    torch = [i for i in instrs if "torch" in i.args.lower() and i.keyword == "RUN"]
    if image.torch:
        if args.get("TORCH_INDEX_URL") != "https://download.pytorch.org/whl/cpu":
            found.append("TORCH_INDEX_URL does not default to PyTorch's CPU index")
        if not any('--index-url "$TORCH_INDEX_URL"' in i.args for i in torch):
            found.append("torch is not installed from TORCH_INDEX_URL")
    elif torch:
        found.append("the image installs torch")
    patterns = images_context.parse_ignore(ignore_text)
    sent = list(images_context.context_files(ROOT, patterns))
    for i in instrs:
        if i.keyword == "COPY" and "--from" not in i.args:
            for src in _copy_sources(i):
                if not any(f == src.rstrip("/") or f.startswith(src.rstrip("/") + "/") for f in sent):
                    found.append(f"line {i.line}: COPY {src} but the ignore file keeps it out of the context")
    return found


def _files(kind: str) -> tuple[str, Image, str]:
    image = IMAGES[kind]
    ignore = images.RECIPES[kind].ignorefile
    return (ROOT / image.dockerfile).read_text(), image, (ROOT / ignore).read_text()


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_dockerfile_passes_every_check(kind: str) -> None:
    assert problems(*_files(kind)) == []


def test_the_recipes_and_the_checks_name_the_same_images() -> None:
    assert {k: r.dockerfile for k, r in images.RECIPES.items()} == {
        k: i.dockerfile for k, i in IMAGES.items()
    }


DEPS_COPY = "COPY --from=requirements /src/requirements.txt /opt/requirements/\n"
DEPS_RUN = "RUN pip install -r /opt/requirements/requirements.txt"


@pytest.mark.parametrize(
    ("kind", "old", "new", "expected"),
    [
        pytest.param(
            "control-plane",
            "FROM ${PYTHON_IMAGE} AS wheel",
            "FORM ${PYTHON_IMAGE} AS wheel",
            "does not parse",
            id="typo",
        ),
        pytest.param(
            "control-plane", "python:3.11-slim-bookworm", "python:3.11-bookworm", "slim Python", id="fat-base"
        ),
        pytest.param(
            "model-server",
            "FROM ${PYTHON_IMAGE} AS wheel",
            "FROM python:3.11 AS wheel",
            "not on ${PYTHON_IMAGE}",
            id="fixed-base",
        ),
        pytest.param("model-server", "USER 10001:10001", "USER root", "non-root USER", id="root-user"),
        pytest.param(
            "control-plane",
            'VOLUME ["/tmp", "/home/shadowgate"]',
            'VOLUME ["/data"]',
            "read-only root",
            id="no-volumes",
        ),
        pytest.param(
            "model-server",
            "RUN which model-server",
            "RUN which model-server kopf",
            "promises ['model-server']",
            id="extra-entry-point",
        ),
        pytest.param(
            "control-plane",
            "which shadowgate shadowgate-router kopf",
            "which shadowgate kopf",
            "the image promises",
            id="unchecked-entry-point",
        ),
        pytest.param(
            "model-server",
            " && rm /opt/venv/bin/shadowgate /opt/venv/bin/shadowgate-router",
            "",
            "are left in",
            id="broken-entry-points",
        ),
        pytest.param(
            "model-server",
            "https://download.pytorch.org/whl/cpu",
            "https://pypi.org/simple",
            "CPU index",
            id="cuda-default",
        ),
        pytest.param(
            "model-server",
            '--index-url "$TORCH_INDEX_URL" ',
            "",
            "not installed from TORCH_INDEX_URL",
            id="index-ignored",
        ),
        pytest.param(
            "control-plane", DEPS_RUN, DEPS_RUN + " torch", "installs torch", id="torch-in-control-plane"
        ),
        pytest.param(
            "control-plane",
            DEPS_COPY,
            DEPS_COPY + "COPY router/ /opt/router/\n",
            "copied before the dependencies",
            id="code-before-deps",
        ),
        pytest.param(
            "control-plane",
            "COPY router/ router/",
            "COPY docs/ docs/",
            "keeps it out of the context",
            id="copy-of-ignored",
        ),
    ],
)
def test_checks_catch_a_broken_dockerfile(kind: str, old: str, new: str, expected: str) -> None:
    text, image, ignore = _files(kind)
    assert old in text
    found = problems(text.replace(old, new), image, ignore)
    assert any(expected in p for p in found), found
