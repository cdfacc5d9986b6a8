"""``model-server``: ``serve`` runs the server; ``archive build`` / ``archive verify`` make
and check model archives. Settings come from flags (and ``$POD_IP``, ``$SHADOWGATE_VARIANT``)."""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys
from collections.abc import Sequence

import orjson

from model_server import settings as settings_mod
from model_server.archive import building, manifest
from model_server.errors import ArchiveError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the inference, management and metrics servers")
    serve.add_argument("--host", default=None, help="bind address (default $POD_IP, else 127.0.0.1)")
    serve.add_argument("--inference-port", type=int, default=8080)
    serve.add_argument("--management-port", type=int, default=8081)
    serve.add_argument("--metrics-port", type=int, default=8082)
    serve.add_argument(
        "--variant",
        choices=settings_mod.VARIANTS,
        default=None,
        help="default $SHADOWGATE_VARIANT, else primary",
    )
    serve.add_argument(
        "--model", action="append", default=[], metavar="URI", help="archive to load at start-up"
    )
    serve.add_argument("--model-store", type=pathlib.Path, default=None, help="where archives are unpacked")
    serve.add_argument("--max-body-bytes", type=int, default=1 << 20)
    serve.add_argument("--max-text-chars", type=int, default=2048)
    serve.add_argument("--max-batch-instances", type=int, default=256, help="instances per request, at most")
    serve.add_argument("--request-timeout-ms", type=float, default=30_000.0)
    serve.add_argument("--torch-threads", type=int, default=0, help="intra-op threads (0: one per core)")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--handler",
        default="",
        help="handler for the --model archives instead of their manifest's (retriever, classifier,"
        " reranker or pkg.mod:Class)",
    )

    archive = sub.add_parser("archive", help="build or verify model archives").add_subparsers(
        dest="archive_command", required=True
    )
    build = archive.add_parser("build", help="build an archive from files")
    build.add_argument("--name", required=True)
    build.add_argument("--version", required=True)
    build.add_argument("--handler", required=True, help="retriever, classifier, reranker or pkg.mod:Class")
    build.add_argument(
        "--file", action="append", default=[], metavar="KEY=PATH", help="a keyed file (repeat)"
    )
    build.add_argument("--extra", action="append", default=[], type=pathlib.Path, metavar="PATH")
    build.add_argument("--config", default="{}", help="handler config as a JSON object")
    build.add_argument(
        "--config-file", type=pathlib.Path, default=None, help="handler config from a JSON file"
    )
    build.add_argument("--description", default="")
    build.add_argument("--batch-size", type=int, default=1)
    build.add_argument("--max-batch-delay-ms", type=float, default=5.0)
    build.add_argument("--queue-size", type=int, default=256)
    build.add_argument("--workers", type=int, default=1)
    build.add_argument("--out", required=True, type=pathlib.Path, help="a directory, *.tar.gz or *.zip")

    verify = archive.add_parser("verify", help="open an archive, check checksums and load its handler")
    verify.add_argument("uri")
    verify.add_argument("--no-load", action="store_true", help="check the manifest and files only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.archive_command == "build":
            return _build(args)
        return _verify(args)
    except ArchiveError as exc:
        print(f"model-server: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"model-server: {exc}", file=sys.stderr)
        return 2


def _build(args: argparse.Namespace) -> int:
    files: dict[str, pathlib.Path] = {}
    for spec in args.file:
        key, sep, path = spec.partition("=")
        if not sep or not key or not path:
            raise ArchiveError(f"--file takes KEY=PATH, got {spec!r}")
        files[key] = pathlib.Path(path)
    raw = args.config_file.read_bytes() if args.config_file else args.config.encode()
    try:
        config = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ArchiveError(f"--config is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ArchiveError("--config must be a JSON object")
    try:
        batch = manifest.BatchSettings(
            batch_size=args.batch_size,
            max_batch_delay_ms=args.max_batch_delay_ms,
            queue_size=args.queue_size,
            workers=args.workers,
        )
    except ValueError as exc:
        raise ArchiveError(f"bad batch settings: {exc}") from exc
    out = building.build_archive(
        args.out,
        name=args.name,
        version=args.version,
        handler=args.handler,
        files=files,
        extra_files=tuple(args.extra),
        batch=batch,
        config=config,
        description=args.description,
    )
    print(out)
    return 0


def _verify(args: argparse.Namespace) -> int:
    import tempfile

    from model_server import loading

    with tempfile.TemporaryDirectory() as store:
        opened = loading.open_verified(args.uri, pathlib.Path(store))
        if not args.no_load:
            loading.initialize_handler(opened, loading.default_limits())
    print(f"ok: {opened.manifest.name} {opened.manifest.version} ({opened.manifest.handler})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from model_server import server

    settings = settings_mod.Settings(
        host=args.host or settings_mod.default_host(),
        inference_port=args.inference_port,
        management_port=args.management_port,
        metrics_port=args.metrics_port,
        variant=args.variant or settings_mod.default_variant(),
        models=tuple(args.model),
        model_store=args.model_store or settings_mod.Settings().model_store,
        max_body_bytes=args.max_body_bytes,
        max_text_chars=args.max_text_chars,
        max_batch_instances=args.max_batch_instances,
        request_timeout_ms=args.request_timeout_ms,
        torch_threads=args.torch_threads,
        log_level=args.log_level,
        handler=args.handler,
    )
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    server.run(settings)
    return 0
