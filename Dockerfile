# syntax=docker/dockerfile:1.7
# One image for the whole product: the operator (`kopf run -m shadowgate.controller.main` or
# `shadowgate`), the model server (`model-server`) and the router (`shadowgate-router`). The chart
# picks the entry point per Deployment. Build: docker build -t shadowgate:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU-only torch first, from PyTorch's CPU wheel index: the default index would pull CUDA wheels
# (several GB) that a CPU image never uses. The project's own torch requirement is then satisfied.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch>=2.4"
WORKDIR /src
# Only what the wheel is built from (pyproject's package-dir and readme); .dockerignore keeps the rest out.
COPY pyproject.toml README.md ./
COPY operator/shadowgate/ operator/shadowgate/
COPY model_server/ model_server/
COPY router/ router/
RUN pip install . && python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="shadowgate" \
      org.opencontainers.image.description="Shadow-deploy and promotion operator for ML models" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 shadowgate \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/shadowgate --create-home \
      --shell /usr/sbin/nologin shadowgate
COPY --from=build /opt/venv /opt/venv
# A read-only root filesystem works: everything written at run time goes to /tmp and $HOME, which
# are volumes (emptyDirs in the chart). Models load offline; nothing is downloaded at run time.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/home/shadowgate \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/home/shadowgate/.cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/tmp", "/home/shadowgate"]
# Fail the build if an entry point is missing from the installed project.
RUN which shadowgate model-server shadowgate-router kopf
USER 10001:10001
WORKDIR /home/shadowgate
# Docker-only health check (Kubernetes uses the chart's probes instead). Each entry point serves
# health on its own port: set SHADOWGATE_HEALTHCHECK_URL, e.g. http://127.0.0.1:8000/healthz for the
# router or http://127.0.0.1:8080/healthz for the operator; the default is the model server's ping.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('SHADOWGATE_HEALTHCHECK_URL', 'http://127.0.0.1:8080/ping'), timeout=2)"]
CMD ["shadowgate", "--help"]
