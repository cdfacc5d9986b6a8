"""Archives: build, open from every supported form, and refuse every broken form with a reason."""

from __future__ import annotations

import io
import pathlib
import shutil
import tarfile
import zipfile
from collections.abc import Callable

import orjson
import pytest

from model_server import cli
from model_server.archive import building, manifest, opening
from model_server.errors import ArchiveError


def _files(tmp: pathlib.Path) -> dict[str, pathlib.Path]:
    (tmp / "src").mkdir()
    weights = tmp / "src" / "w.safetensors"
    weights.write_bytes(b"weights-bytes")
    catalog = tmp / "src" / "catalog.jsonl"
    catalog.write_bytes(b'{"id": "a"}\n')
    return {"weights": weights, "catalog": catalog}


@pytest.mark.parametrize(
    "out_name", ["dir", "m.tar.gz", "m.tgz", "m.zip"], ids=["directory", "tar.gz", "tgz", "zip"]
)
def test_build_then_open_round_trip(tmp_path: pathlib.Path, out_name: str) -> None:
    out = building.build_archive(
        tmp_path / out_name, name="intent", version="2.0.1", handler="classifier", files=_files(tmp_path)
    )
    opened = opening.open_archive(str(out), tmp_path / "store")
    assert opened.manifest.name == "intent"
    assert opened.manifest.version == "2.0.1"
    assert opened.manifest.files == {"weights": "w.safetensors", "catalog": "catalog.jsonl"}
    assert set(opened.manifest.sha256) == {"w.safetensors", "catalog.jsonl"}
    assert (opened.root / "w.safetensors").read_bytes() == b"weights-bytes"
    assert (opened.scratch is None) == (out_name == "dir")


def test_file_uri_opens(tmp_path: pathlib.Path) -> None:
    out = building.build_archive(
        tmp_path / "m.tar.gz", name="m", version="1", handler="retriever", files=_files(tmp_path)
    )
    assert opening.open_archive(out.as_uri(), tmp_path / "store").manifest.name == "m"


def _archive_dir(tmp: pathlib.Path) -> pathlib.Path:
    return building.build_archive(tmp / "arch", name="m", version="1", handler="retriever", files=_files(tmp))


def _edit_manifest(change: Callable[[dict[str, object]], object]) -> Callable[[pathlib.Path], None]:
    def apply(root: pathlib.Path) -> None:
        data = orjson.loads((root / manifest.MANIFEST_FILE).read_bytes())
        change(data)
        (root / manifest.MANIFEST_FILE).write_bytes(orjson.dumps(data))

    return apply


BROKEN: list[tuple[str, Callable[[pathlib.Path], object], str]] = [
    ("missing-weights", lambda r: (r / "w.safetensors").unlink(), "missing file"),
    ("missing-manifest", lambda r: (r / manifest.MANIFEST_FILE).unlink(), "MANIFEST.json not found"),
    ("manifest-not-json", lambda r: (r / manifest.MANIFEST_FILE).write_bytes(b"{nope"), "not valid JSON"),
    (
        "checksum",
        lambda r: (r / "catalog.jsonl").write_bytes(b'{"id": "b"}\n'),
        "checksum mismatch: catalog.jsonl",
    ),
    ("no-name", _edit_manifest(lambda d: d.pop("name")), "name: Field required"),
    ("bad-version", _edit_manifest(lambda d: d.update(version="../x")), "version"),
    (
        "unknown-field",
        _edit_manifest(lambda d: d.update(weights="x")),
        "weights: Extra inputs are not permitted",
    ),
    ("batch-zero", _edit_manifest(lambda d: d.update(batch={"batch_size": 0})), "batch.batch_size"),
    (
        "escape",
        _edit_manifest(lambda d: d.update(files={"weights": "../etc/passwd"})),
        "stay inside the archive",
    ),
    ("bad-digest", _edit_manifest(lambda d: d.update(sha256={"catalog.jsonl": "xyz"})), "64-digit hex"),
]


@pytest.mark.parametrize(("case", "breaker", "reason"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_archive_names_the_problem(
    tmp_path: pathlib.Path, case: str, breaker: Callable[[pathlib.Path], object], reason: str
) -> None:
    root = _archive_dir(tmp_path)
    breaker(root)
    with pytest.raises(ArchiveError, match=reason.replace(".", r"\.").replace("(", r"\(")):
        opening.open_archive(str(root), tmp_path / "store")


def test_uri_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ArchiveError, match="does not exist"):
        opening.open_archive(str(tmp_path / "nope.tar.gz"), tmp_path / "store")
    with pytest.raises(ArchiveError, match="unsupported URI scheme 's3'"):
        opening.open_archive("s3://bucket/m.tar.gz", tmp_path / "store")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive at all")
    with pytest.raises(ArchiveError, match=r"not a directory, \.tar\.gz or \.zip"):
        opening.open_archive(str(junk), tmp_path / "store")
    assert not any((tmp_path / "store").iterdir())  # scratch cleaned up after failures


@pytest.mark.parametrize("kind", ["zip", "tar"], ids=["zip-slip", "tar-traversal"])
def test_members_escaping_the_archive_are_refused(tmp_path: pathlib.Path, kind: str) -> None:
    evil = tmp_path / f"evil.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(evil, "w") as zf:
            zf.writestr("../outside.txt", "x")
    else:
        with tarfile.open(evil, "w:gz") as tar:
            info = tarfile.TarInfo("../outside.txt")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ArchiveError, match=r"escapes the archive|cannot unpack"):
        opening.open_archive(str(evil), tmp_path / "store")
    assert not (tmp_path / "outside.txt").exists()


def test_single_top_level_folder_is_the_root(tmp_path: pathlib.Path) -> None:
    root = _archive_dir(tmp_path)
    packed = tmp_path / "nested.tar.gz"
    with tarfile.open(packed, "w:gz") as tar:
        tar.add(root, arcname="retriever-1")
    assert opening.open_archive(str(packed), tmp_path / "store").root.name == "retriever-1"


def test_builder_refuses_bad_inputs(tmp_path: pathlib.Path) -> None:
    files = _files(tmp_path)
    with pytest.raises(ArchiveError, match="does not exist"):
        building.build_archive(
            tmp_path / "o", name="m", version="1", handler="x", files={"w": tmp_path / "nope"}
        )
    with pytest.raises(ArchiveError, match="name"):
        building.build_archive(tmp_path / "o", name="bad name", version="1", handler="x", files=files)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(files["weights"], other / "w.safetensors")
    with pytest.raises(ArchiveError, match="share the name"):
        building.build_archive(
            tmp_path / "o", name="m", version="1", handler="x", files={**files, "x": other / "w.safetensors"}
        )


CLI_CASES = [
    ("ok", ["--file", "weights={w}", "--config", '{"labels": ["a", "b"]}'], 0, ""),
    ("bad-file-spec", ["--file", "weights"], 2, "--file takes KEY=PATH"),
    ("bad-config", ["--config", "{oops"], 2, "--config is not valid JSON"),
    ("config-not-object", ["--config", "[1]"], 2, "--config must be a JSON object"),
    ("bad-batch", ["--batch-size", "0"], 2, "bad batch settings"),
    ("missing-file", ["--file", "weights=/nonexistent/w.pt"], 2, "does not exist"),
]


@pytest.mark.parametrize(("case", "extra", "code", "message"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_archive_build(
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    extra: list[str],
    code: int,
    message: str,
) -> None:
    weights = _files(tmp_path)["weights"]
    out = tmp_path / "out.tar.gz"
    argv = [
        "archive",
        "build",
        "--name",
        "intent",
        "--version",
        "1.0.0",
        "--handler",
        "classifier",
        "--out",
        str(out),
    ]
    assert cli.main(argv + [a.replace("{w}", str(weights)) for a in extra]) == code
    if code == 0:
        assert opening.open_archive(str(out), tmp_path / "store").manifest.config == {"labels": ["a", "b"]}
    else:
        assert message in capsys.readouterr().err


def test_cli_archive_verify(
    tmp_path: pathlib.Path, archives: dict[str, pathlib.Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["archive", "verify", str(archives["retriever"])]) == 0
    assert "ok: retriever 1.0.0" in capsys.readouterr().out
    broken = tmp_path / "broken"
    shutil.copytree(archives["classifier"], broken)
    data = orjson.loads((broken / "MANIFEST.json").read_bytes())
    data["handler"] = "no_such_handler"
    (broken / "MANIFEST.json").write_bytes(orjson.dumps(data))
    assert cli.main(["archive", "verify", str(broken)]) == 2
    assert "unknown handler 'no_such_handler'" in capsys.readouterr().err
