{{/* Chart name, truncated to the 63-character label limit. */}}
{{- define "shadowgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped full name; the release name alone when it already contains the chart name. */}}
{{- define "shadowgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "shadowgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: shadowgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "shadowgate.operatorSelector" -}}
app.kubernetes.io/name: {{ include "shadowgate.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "shadowgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "shadowgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "shadowgate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The operator engineer's RBAC rules, read from files/operator-rules.yaml. */}}
{{- define "shadowgate.operatorRules" -}}
{{- $rules := .Files.Get "files/operator-rules.yaml" | fromYaml }}
{{- if or (not $rules) (hasKey $rules "Error") }}
{{- fail "files/operator-rules.yaml is missing or is not valid YAML" }}
{{- end }}
{{- toYaml $rules }}
{{- end }}

{{/*
A read-only root filesystem needs writable HOME, TMPDIR and caches: two emptyDirs, at /tmp and at
the image user's home (the Dockerfile sets the same paths).
*/}}
{{- define "shadowgate.scratchEnv" -}}
- name: HOME
  value: /home/shadowgate
- name: TMPDIR
  value: /tmp
- name: XDG_CACHE_HOME
  value: /home/shadowgate/.cache
- name: MPLCONFIGDIR
  value: /tmp/matplotlib
{{- end }}

{{- define "shadowgate.scratchVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: home
  mountPath: /home/shadowgate
{{- end }}

{{- define "shadowgate.scratchVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: home
  emptyDir:
    sizeLimit: 256Mi
{{- end }}

{{/* Pod identity for processes that bind to their own address ($POD_IP, see docs/architecture.md). */}}
{{- define "shadowgate.podEnv" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}
