"""The operator's entry module: ``kopf run -m shadowgate.controller.main --standalone``.

kopf imports this module and then runs the handlers registered in it, so this is the start-up
point where settings are read from the environment:

- ``SHADOWGATE_TICK_SECONDS`` (default 2): how often each Candidate is reconciled;
- ``SHADOWGATE_METRICS_PORT`` (default 8090, 0 = off) and ``SHADOWGATE_METRICS_HOST``;
- ``SHADOWGATE_PROMETHEUS_URL``: where gate queries and sample counts go (unset = every
  Prometheus gate is Inconclusive, so nothing promotes on missing data);
- ``SHADOWGATE_ARCHIVE_FLAG`` / ``SHADOWGATE_HANDLER_FLAG``: the model server's flags;
- ``KUBECONFIG`` or in-cluster credentials, for both kopf and the Kubernetes client.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from shadowgate.controller import config, handlers

_settings = config.Settings.from_env(os.environ)
_runtime = config.LazyRuntime(_settings)

handlers.register(kopf.get_default_registry(), _runtime.get, _settings.tick_s)


@kopf.on.startup()
def startup(**kwargs: Any) -> None:
    logger: logging.Logger = kwargs["logger"]
    config.tune(kwargs["settings"])
    # One line per HTTP query and per successful tick drowns the transition lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _runtime.get()
    if _settings.metrics_port:
        _runtime.serve_metrics()
        logger.info("operator metrics on %s:%d", _settings.metrics_host, _settings.metrics_port)
