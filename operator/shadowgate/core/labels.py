"""The Prometheus label names shadowgate's own queries filter and group by.

Two kinds of label reach a scraped series: the process's own (``variant`` on router series,
``namespace``/``candidate``/``target`` on the operator's) and the target labels the scrape adds.
The target labels of model-server Pods are defined once, by the chart's PodMonitor relabelings
(``charts/shadowgate/files/pod-relabelings.yaml``); the names below are those, spelled out here
because the operator's image does not carry the chart and this package does no I/O.
``tests/unit/test_target_labels.py`` fails when the two disagree, and fails when a preset, the
dashboard or an alert queries a label that neither the process nor the chart produces.
"""

from __future__ import annotations

# Pod labels the operator sets on every model-server Pod it selects or creates.
POD_LABEL_TARGET = "shadowgate.dev/target"
POD_LABEL_VARIANT = "shadowgate.dev/variant"

# Target labels of model-server series (the PodMonitor's relabelings, in the file's order).
NAMESPACE = "namespace"
POD = "pod"
TARGET = "target"  # from the Pod label shadowgate.dev/target: the production Deployment's name
VARIANT = "variant"  # from the Pod label shadowgate.dev/variant: primary, canary or shadow
POD_TARGET_LABELS: tuple[str, ...] = (NAMESPACE, POD, TARGET, VARIANT)

# Target labels the Prometheus Operator puts on a ServiceMonitor's targets (the operator's and the
# routers' Services). The chart's ServiceMonitor honours the process's labels, so the operator's own
# ``namespace`` (the Candidate's) wins over the Service's.
SERVICE_TARGET_LABELS: tuple[str, ...] = ("namespace", "service", "pod", "container", "endpoint")

# Every scrape adds these.
SCRAPE_LABELS: tuple[str, ...] = ("job", "instance")
