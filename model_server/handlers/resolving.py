"""Turn a manifest's ``handler`` field into a handler class: a built-in name or a dotted
path ``package.module:Class`` to a BaseHandler subclass."""

from __future__ import annotations

import importlib

from model_server.errors import ArchiveError
from model_server.handlers import base, classifier, reranker, retriever

BUILTIN: dict[str, type[base.BaseHandler]] = {
    "retriever": retriever.RetrieverHandler,
    "classifier": classifier.ClassifierHandler,
    "reranker": reranker.RerankerHandler,
}


def resolve_handler(name: str) -> type[base.BaseHandler]:
    if name in BUILTIN:
        return BUILTIN[name]
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise ArchiveError(
            f"unknown handler {name!r}: use one of {sorted(BUILTIN)} or a dotted path 'package.module:Class'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ArchiveError(f"unknown handler {name!r}: cannot import {module_name!r} ({exc})") from exc
    cls = getattr(module, attr, None)
    if not isinstance(cls, type) or not issubclass(cls, base.BaseHandler):
        raise ArchiveError(
            f"unknown handler {name!r}: {attr!r} in {module_name!r} is not a BaseHandler subclass"
        )
    return cls
