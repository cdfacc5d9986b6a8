# syntax=docker/dockerfile:1.7
# The model-server image: `model-server` (model_server/) with torch. The operator and the router
# run from the smaller image without torch, Dockerfile.control-plane. Build:
#   docker build -t shadowgate-model-server:0.1.0 .
# The local stack builds it with buildah on a debootstrap base (shadowgate.devstack.images).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# The dependency list alone: the runtime stage copies only this stage's output, so an edit to
# another part of pyproject.toml (tool settings) keeps the cached torch layer.
FROM ${PYTHON_IMAGE} AS requirements
COPY pyproject.toml /src/
RUN python -c 'import re, tomllib; \
  p = tomllib.load(open("/src/pyproject.toml", "rb"))["project"]; \
  reqs = p["dependencies"] + p["optional-dependencies"]["model-server"]; \
  open("/src/torch.txt", "w").writelines(r + "\n" for r in reqs if re.match(r"torch\b", r)); \
  open("/src/requirements.txt", "w").writelines(r + "\n" for r in reqs)'

# The project's wheel, built apart so the runtime stage gets only the wheel.
FROM ${PYTHON_IMAGE} AS wheel
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/build
WORKDIR /src
COPY pyproject.toml ./
COPY model_server/ model_server/
# pyproject names README.md as the long description, which an image never shows; the real one
# stays out of the context so a docs edit does not rebuild the image.
RUN echo "shadowgate model server: see the project's README.md" > README.md \
 && /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
# PyTorch's CPU wheel index by default: PyPI's torch is the CUDA build, GBs a CPU image never uses.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
LABEL org.opencontainers.image.title="shadowgate-model-server" \
      org.opencontainers.image.description="shadowgate's model server (Open Inference Protocol, torch)" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 shadowgate \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/shadowgate --create-home \
      --shell /usr/sbin/nologin shadowgate
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies before any source: this layer (torch, several GB) is rebuilt only when the
# dependency list changes, never for a code change.
COPY --from=requirements /src/torch.txt /src/requirements.txt /opt/requirements/
RUN pip install --index-url "$TORCH_INDEX_URL" -r /opt/requirements/torch.txt \
 && pip install -r /opt/requirements/requirements.txt
COPY --from=wheel /wheels/ /opt/wheels/
# The wheel declares every entry point of the project; this image carries only the model
# server's package, so the other two would fail on start.
RUN pip install --no-deps --no-index /opt/wheels/*.whl \
 && rm /opt/venv/bin/shadowgate /opt/venv/bin/shadowgate-router
# A read-only root filesystem works: everything written at run time goes to /tmp and $HOME, which
# are volumes (emptyDirs in the chart). Models load offline; nothing is downloaded at run time.
ENV HOME=/home/shadowgate \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/home/shadowgate/.cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/tmp", "/home/shadowgate"]
# Fail the build if the entry point is missing from the installed project.
RUN which model-server
USER 10001:10001
WORKDIR /home/shadowgate
# Docker-only health check (Kubernetes uses the chart's probes instead): the model server's ping.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('SHADOWGATE_HEALTHCHECK_URL', 'http://127.0.0.1:8080/ping'), timeout=2)"]
CMD ["model-server", "--help"]
