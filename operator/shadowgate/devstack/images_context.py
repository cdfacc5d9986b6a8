"""What goes into an image build, and one hash of it that names the build in the cache.

An image is rebuilt only when this hash changes, so it must cover everything the build reads:
the Dockerfile, the ignore file, every file of the build context the ignore file lets through
(path, mode and bytes), the build arguments and the base image's digest. The context is chosen
the way buildah and docker choose it (``.dockerignore`` patterns, last match wins, a pattern
also matching a file's parent folders); including a file the builder leaves out would only cost
a needless rebuild, leaving one out would serve a stale image, so the matcher errs on including.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pathlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

# Bump when the way images are built changes in a way the inputs below do not show (a buildah
# flag, the wheelhouse layout): every cached image is then rebuilt once.
RECIPE = "images-1"


class ContextError(ValueError):
    """A build context or ignore file that cannot be used; the message names it."""


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    negated: bool
    literal: str  # what every match starts with (the text before the first wildcard)


def _translate(pattern: str) -> str:
    """A ``.dockerignore`` pattern (Go's filepath.Match plus ``**``) as a regular expression."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out.append("(?:.*/)?")  # `**/` also matches no folder at all
                i += 1
            else:
                out.append(".*")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ContextError(f"unterminated character class in pattern {pattern!r}")
            out.append(pattern[i : end + 1])  # Go's classes ([a-z], [^a]) read the same in re
            i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse_ignore(text: str) -> tuple[Pattern, ...]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        body = os.path.normpath(line[1:].strip() if negated else line).lstrip("/")
        if body in ("", "."):
            continue
        literal = re.split(r"[*?\[\\]", body, maxsplit=1)[0]
        patterns.append(Pattern(re.compile(_translate(body) + r"\Z"), negated, literal))
    return tuple(patterns)


def _matches(pattern: Pattern, path: str) -> bool:
    """The pattern matches the path itself or one of its parent folders (docker's rule)."""
    parts = path.split("/")
    return any(pattern.regex.match("/".join(parts[: n + 1])) for n in range(len(parts)))


def excluded(patterns: Sequence[Pattern], path: str) -> bool:
    out = False
    for p in patterns:
        if _matches(p, path):
            out = not p.negated
    return out


def _may_reinclude(patterns: Sequence[Pattern], folder: str) -> bool:
    """Whether a negated pattern could bring back something below an excluded folder."""
    # A match below the folder starts with "folder/", and every match starts with the literal.
    inside = folder + "/"
    return any(p.negated and (p.literal.startswith(inside) or inside.startswith(p.literal)) for p in patterns)


def context_files(root: pathlib.Path, patterns: Sequence[Pattern]) -> Iterator[str]:
    """Relative paths of the files (and symlinks) the builder sends, sorted."""
    if not root.is_dir():
        raise ContextError(f"build context {root} is not a folder")
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        base = "" if rel == "." else rel + "/"
        # Prune folders nothing can come back from (.git, .venv): walking them would take longer
        # than the whole warm check.
        dirs[:] = sorted(
            d for d in dirs if not excluded(patterns, base + d) or _may_reinclude(patterns, base + d)
        )
        for name in sorted(files):
            if not excluded(patterns, base + name):
                yield base + name


@functools.lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int, inode: int) -> str:
    # Keyed by stat so a process that checks the same context twice hashes each file once.
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def file_entry(root: pathlib.Path, rel: str) -> list[object]:
    path = root / rel
    st = path.lstat()
    if path.is_symlink():
        return [rel, "link", os.readlink(path)]
    return [rel, st.st_mode & 0o7777, _file_digest(str(path), st.st_size, st.st_mtime_ns, st.st_ino)]


def context_digest(root: pathlib.Path, ignore_text: str) -> tuple[str, int]:
    """(sha256 over the context's files, how many files) for the given ignore file's text."""
    h = hashlib.sha256()
    count = 0
    for rel in context_files(root, parse_ignore(ignore_text)):
        h.update(json.dumps(file_entry(root, rel)).encode() + b"\n")
        count += 1
    return h.hexdigest(), count


def key(parts: Mapping[str, object]) -> str:
    """One hex hash of JSON-able inputs (the recipe version always among them)."""
    blob = json.dumps({"recipe": RECIPE, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def build_key(
    dockerfile: pathlib.Path,
    ignorefile: pathlib.Path,
    context: pathlib.Path,
    build_args: Mapping[str, str],
    base_digest: str,
) -> str:
    """The cache key of a ``buildah bud``: changes whenever anything the build reads changes."""
    try:
        ignore_text = ignorefile.read_text()
        docker_text = dockerfile.read_text()
    except OSError as exc:
        raise ContextError(f"cannot read {exc.filename}: {exc.strerror}") from exc
    digest, count = context_digest(context, ignore_text)
    if count == 0:
        raise ContextError(f"{ignorefile} lets no file of {context} into the build")
    return key(
        {
            "dockerfile": hashlib.sha256(docker_text.encode()).hexdigest(),
            "ignore": hashlib.sha256(ignore_text.encode()).hexdigest(),
            "context": digest,
            "args": dict(sorted(build_args.items())),
            "base": base_digest,
        }
    )
