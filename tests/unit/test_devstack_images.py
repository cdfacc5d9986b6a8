"""The image cache's decisions, with fake tools: what a warm run reuses, what it imports, and
the errors a caller sees. The real builds run in tests/integration/test_images.py."""

from __future__ import annotations

import pathlib
import threading
import time
from typing import Any, ClassVar

import pytest
from shadowgate.devstack import images, images_context
from shadowgate.devstack import images_oci as oci
from shadowgate.devstack import images_tools as tools

LS = (
    "REF                                  TYPE                                       DIGEST SIZE ...\n"
    "localhost/shadowgate/pause:1         application/vnd.oci.image.manifest.v1+json sha256:aaa 660 KiB\n"
    "localhost/shadowgate/control-plane:2 application/vnd.oci.image.manifest.v1+json sha256:bbb 160 MiB\n"
)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"SHADOWGATE_CACHE": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c/images", id="own"),
        pytest.param({"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/shadowgate/images", id="xdg"),
        pytest.param({"HOME": "/h"}, "/h/.cache/shadowgate/images", id="home"),
    ],
)
def test_the_cache_folder_follows_build_binaries(environ: dict[str, str], expected: str) -> None:
    assert images.cache_dir(environ) == pathlib.Path(expected)


def test_the_torch_index_defaults_to_pypi_here() -> None:
    assert images.torch_index({}) == "https://pypi.org/simple"
    assert images.torch_index(
        {"SHADOWGATE_TORCH_INDEX_URL": "https://download.pytorch.org/whl/cpu"}
    ).endswith("/cpu")


def _image(
    tmp_path: pathlib.Path, name: str = "localhost/shadowgate/x:1", data: bytes = b"tar"
) -> images.BuiltImage:
    archive = tmp_path / "x" / f"{name.rsplit(':', 1)[1]}.tar"
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(data)
    return images.BuiltImage(name, archive, "sha256:" + "1" * 64, len(data))


def test_a_record_is_reused_only_while_its_archive_is_whole(tmp_path: pathlib.Path) -> None:
    image = _image(tmp_path)
    assert images.load_record(tmp_path, "x", "k" * 64) is None
    images.save_record(tmp_path, "x", "k" * 64, image)
    assert images.load_record(tmp_path, "x", "k" * 64) == image
    assert images.load_record(tmp_path, "x", "j" * 64) is None  # other inputs: not this image
    image.archive.write_bytes(b"truncat")  # an interrupted copy, say
    assert images.load_record(tmp_path, "x", "k" * 64) is None
    image.archive.unlink()
    assert images.load_record(tmp_path, "x", "k" * 64) is None


def test_a_corrupt_record_is_a_miss_not_a_crash(tmp_path: pathlib.Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / ("k" * 32 + ".json")).write_text("{not json")
    assert images.load_record(tmp_path, "x", "k" * 64) is None


def test_pruning_keeps_the_newest_archive_and_its_records(tmp_path: pathlib.Path) -> None:
    old, new = _image(tmp_path, "r/x:old"), _image(tmp_path, "r/x:new")
    images.save_record(tmp_path, "x", "a" * 64, old)
    images.save_record(tmp_path, "x", "b" * 64, new)
    images.save_record(tmp_path, "x", "c" * 64, new)  # other inputs that built the same content
    images.prune_kind(tmp_path, "x", new.archive)
    assert not old.archive.exists() and new.archive.exists()
    assert images.load_record(tmp_path, "x", "a" * 64) is None
    assert images.load_record(tmp_path, "x", "b" * 64) == images.load_record(tmp_path, "x", "c" * 64) == new


def test_ctr_images_ls_is_read_as_name_to_digest() -> None:
    assert images.parse_images_ls(LS) == {
        "localhost/shadowgate/pause:1": "sha256:aaa",
        "localhost/shadowgate/control-plane:2": "sha256:bbb",
    }
    assert images.parse_images_ls("REF TYPE DIGEST SIZE PLATFORMS LABELS\n") == {}


class FakeCtr:
    """``ctr images ls`` / ``import`` against a dict, recording the imports."""

    def __init__(self, held: dict[str, str], lands_as: dict[str, tuple[str, str]] | None = None) -> None:
        self.held = dict(held)
        self.lands_as = lands_as or {}
        self.imported: list[str] = []

    def __call__(self, cmd: list[str], what: str, **_: object) -> str:
        assert cmd[:5] == ["ctr", "--address", "/run/c.sock", "-n", "k8s.io"]
        if cmd[5:7] == ["images", "ls"]:
            rows = "".join(
                f"{n} application/vnd.oci.image.manifest.v1+json {d} 1 linux/amd64 -\n"
                for n, d in self.held.items()
            )
            return "REF TYPE DIGEST SIZE PLATFORMS LABELS\n" + rows
        assert cmd[5:7] == ["images", "import"]
        archive = cmd[7]
        self.imported.append(archive)
        name, digest = self.lands_as[archive]
        self.held[name] = digest
        return ""


def test_import_skips_what_containerd_holds_with_the_same_digest(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    same = images.BuiltImage("r/a:1", tmp_path / "a.tar", "sha256:a", 1)
    stale = images.BuiltImage("r/b:1", tmp_path / "b.tar", "sha256:new", 1)
    missing = images.BuiltImage("r/c:1", tmp_path / "c.tar", "sha256:c", 1)
    ctr = FakeCtr(
        {"r/a:1": "sha256:a", "r/b:1": "sha256:old"},
        lands_as={str(stale.archive): ("r/b:1", "sha256:new"), str(missing.archive): ("r/c:1", "sha256:c")},
    )
    monkeypatch.setattr(tools, "run", ctr)
    assert images.import_images("/run/c.sock", [same, stale, missing], log=lambda _: None) == [stale, missing]
    assert ctr.imported == [str(stale.archive), str(missing.archive)]
    # Warm: containerd now holds all three, so nothing is imported.
    assert images.import_images("/run/c.sock", [same, stale, missing], log=lambda _: None) == []


def test_an_import_that_lands_under_another_digest_is_an_error(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = images.BuiltImage("r/a:1", tmp_path / "a.tar", "sha256:want", 1)
    monkeypatch.setattr(tools, "run", FakeCtr({}, lands_as={str(image.archive): ("r/a:1", "sha256:got")}))
    with pytest.raises(tools.ImageBuildError, match=r"holds r/a:1 as sha256:got, expected sha256:want"):
        images.import_images("/run/c.sock", [image], log=lambda _: None)


def test_builders_take_turns_on_the_cache_lock(tmp_path: pathlib.Path) -> None:
    order: list[str] = []
    logged: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with images.locked(tmp_path, logged.append):
            first_in.set()
            time.sleep(0.3)
            order.append("first done")

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(5)
    with images.locked(tmp_path, logged.append):
        order.append("second in")
    t.join()
    assert order == ["first done", "second in"]
    assert any("waiting for another build" in m for m in logged)


def _refuse(*args: object, **kwargs: object) -> str:
    raise AssertionError(f"a tool ran on a warm cache: {args}")


def test_warm_pause_and_base_run_no_tool(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = pathlib.Path(__file__).resolve().parents[2]
    env = {"SHADOWGATE_CACHE": str(tmp_path), "SHADOWGATE_REPO": str(repo)}
    monkeypatch.setattr(tools, "host_suite", lambda: "bookworm")
    monkeypatch.setattr(tools, "gcc_version", lambda: "gcc 12")
    monkeypatch.setattr(tools, "debootstrap", lambda rootfs, suite, log: (rootfs / "bin").mkdir(parents=True))
    monkeypatch.setattr(tools, "build_pause", lambda src, out: out.write_bytes(b"pause"))
    cold = [images.ensure(kind, lambda _: None, env) for kind in ("pause", "base")]
    for name in ("debootstrap", "build_pause", "run"):
        monkeypatch.setattr(tools, name, _refuse)
    assert [images.ensure(kind, lambda _: None, env) for kind in ("pause", "base")] == cold
    assert cold[0].name.startswith("localhost/shadowgate/pause:")
    assert cold[1].name.startswith("localhost/shadowgate/python:bookworm-")
    assert (images.cache_dir(env) / ".lock").exists()


class FakeBuildah:
    """Records builds; an image's ID is the hash of the files its context holds."""

    calls: ClassVar[list[str]] = []

    def __init__(self, root: pathlib.Path, runroot: pathlib.Path) -> None:
        pass

    def reset(self) -> None:
        pass

    def has_image(self, name: str) -> bool:
        return True

    def bud(self, *, context: pathlib.Path, ignorefile: pathlib.Path, **_: object) -> str:
        self.calls.append("bud")
        return images_context.context_digest(context, ignorefile.read_text())[0]

    def push(self, image: str, name: str, archive: pathlib.Path) -> None:
        self.calls.append("push")
        rootfs = archive.parent / "rootfs"
        rootfs.mkdir()
        (rootfs / "id").write_text(image)
        oci.pack_rootfs(rootfs, name, archive, oci.ImageConfig())

    def remove_other_tags(self, repository: str, keep: str) -> None:
        self.calls.append("untag")


@pytest.fixture
def mini(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A small repo with the real control-plane Dockerfile, a faked base and a faked buildah."""
    repo = pathlib.Path(__file__).resolve().parents[2]
    mini = tmp_path / "repo"
    for rel in ("pyproject.toml", "Dockerfile.control-plane", "Dockerfile.control-plane.dockerignore"):
        (mini / rel).parent.mkdir(parents=True, exist_ok=True)
        (mini / rel).write_text((repo / rel).read_text())
    (mini / "operator/shadowgate").mkdir(parents=True)
    (mini / "operator/shadowgate/__init__.py").write_text("")
    (mini / "router").mkdir()
    (mini / "router/app.py").write_text("v1\n")
    (mini / "README.md").write_text("docs\n")
    (tmp_path / "cache").mkdir()
    base = _image(tmp_path / "cache", "localhost/shadowgate/python:bookworm-1")
    monkeypatch.setattr(images, "ensure_base", lambda cache_, log: base)
    FakeBuildah.calls = []
    monkeypatch.setattr(tools, "Buildah", FakeBuildah)
    return mini


def test_a_dockerfile_image_is_rebuilt_only_when_its_inputs_change(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, mini: pathlib.Path
) -> None:
    cache = tmp_path / "cache"
    filled: list[int] = []
    monkeypatch.setattr(tools, "fill_wheelhouse", lambda house, reqs, log, **kw: filled.append(len(reqs)))

    def build() -> images.BuiltImage:
        return images.ensure_built("control-plane", cache, mini, lambda _: None, {})

    first = build()
    assert FakeBuildah.calls == ["bud", "push", "untag"] and len(filled) == 1
    assert first.name.startswith("localhost/shadowgate/control-plane:") and first.archive.is_file()
    (mini / "README.md").write_text("new numbers\n")  # not in the context
    assert build() == first and FakeBuildah.calls == ["bud", "push", "untag"]
    (mini / "router/app.py").write_text("v2\n")
    second = build()
    assert second.name != first.name and not first.archive.exists()  # the old archive is pruned
    assert FakeBuildah.calls[3:] == ["bud", "push", "untag"]
    assert len(filled) == 1  # same dependency list: the wheelhouse is not refilled


def test_an_unknown_image_is_named() -> None:
    with pytest.raises(ValueError, match="unknown image 'gpu'"):
        images.ensure("gpu", environ={})


def test_a_failed_step_shows_its_output_tail() -> None:
    with pytest.raises(tools.ImageBuildError) as exc:
        tools.run(["sh", "-c", "for i in $(seq 1 100); do echo line $i; done; exit 3"], "a step")
    message = str(exc.value)
    assert message.startswith("a step failed (exit 3)")
    assert "line 100" in message and "line 60" not in message  # the last 40 lines only


def test_a_missing_program_is_named() -> None:
    with pytest.raises(tools.ImageBuildError, match="buildah-nope is not installed"):
        tools.run(["buildah-nope", "bud"], "buildah bud")


def test_mounts_below_a_folder_are_listed_deepest_first() -> None:
    info = (
        "36 35 0:30 / /proc rw - proc proc rw\n"
        "40 35 0:31 / /c/rootfs/proc rw - proc proc rw\n"
        "41 40 0:32 / /c/rootfs/proc/sys/fs/binfmt_misc rw - binfmt_misc x rw\n"
        "42 35 0:33 / /c/rootfs2 rw - tmpfs t rw\n"
        "43 35 0:34 / /c/with\\040space rw - tmpfs t rw\n"
    )
    assert tools.mounts_under(pathlib.Path("/c/rootfs"), info) == [
        "/c/rootfs/proc/sys/fs/binfmt_misc",
        "/c/rootfs/proc",
    ]
    assert tools.mounts_under(pathlib.Path("/c/with space"), info) == ["/c/with space"]


@pytest.mark.parametrize(
    ("text", "suite"),
    [
        pytest.param("ID=debian\nVERSION_CODENAME=bookworm\n", "bookworm", id="debian"),
        pytest.param('ID="debian"\nVERSION_CODENAME="trixie"\n', "trixie", id="quoted"),
        pytest.param("ID=ubuntu\nVERSION_CODENAME=noble\n", None, id="not-debian"),
    ],
)
def test_the_base_is_the_hosts_debian_release(tmp_path: pathlib.Path, text: str, suite: str | None) -> None:
    (tmp_path / "os-release").write_text(text)
    if suite is None:
        with pytest.raises(tools.ImageBuildError, match="is not Debian"):
            tools.host_suite(tmp_path / "os-release")
    else:
        assert tools.host_suite(tmp_path / "os-release") == suite


def test_requirement_sets_split_the_model_server_extra() -> None:
    repo = pathlib.Path(__file__).resolve().parents[2]
    build, deps, extra = tools.requirement_sets(repo / "pyproject.toml")
    assert any(r.startswith("setuptools") for r in build)
    assert not [
        r for r in deps if r.startswith(("torch", "sentence-transformers"))
    ]  # control plane: no torch
    assert any(r.startswith("torch") for r in extra)


def test_an_edit_during_the_build_is_not_recorded_under_the_old_inputs(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, mini: pathlib.Path
) -> None:
    monkeypatch.setattr(tools, "fill_wheelhouse", lambda house, reqs, log, **kw: None)
    real_bud = FakeBuildah.bud

    def bud_while_editing(self: FakeBuildah, **kw: Any) -> str:
        image_id = real_bud(self, **kw)
        (mini / "router/app.py").write_text("edited mid-build\n")  # another engineer saves a file
        return image_id

    monkeypatch.setattr(FakeBuildah, "bud", bud_while_editing)
    images.ensure_built("control-plane", tmp_path / "cache", mini, lambda _: None, {})
    assert not list((tmp_path / "cache" / "control-plane").glob("*.json"))  # the next call rebuilds
