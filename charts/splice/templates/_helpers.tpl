{{/* The names of this revision's own objects: splice, or splice-<revision> (src/inject/installation.ts). */}}
{{- define "splice.name" -}}
{{- if .Values.revision -}}splice-{{ .Values.revision }}{{- else -}}splice{{- end -}}
{{- end -}}

{{- define "splice.component" -}}
{{- if .Values.revision -}}webhook-{{ .Values.revision }}{{- else -}}webhook{{- end -}}
{{- end -}}

{{- define "splice.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Labels on every object; the selector labels are the manifests' own, so a revision's never match the default's. */}}
{{- define "splice.labels" -}}
app.kubernetes.io/name: splice
app.kubernetes.io/component: {{ include "splice.component" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- if .Values.revision }}
splice.dev/revision: {{ .Values.revision }}
{{- end }}
{{- end -}}

{{- define "splice.selector" -}}
app.kubernetes.io/name: splice
app.kubernetes.io/component: {{ include "splice.component" . }}
{{- if .Values.revision }}
splice.dev/revision: {{ .Values.revision }}
{{- end }}
{{- end -}}

{{/* config.yaml: the values' config, in this namespace and revision, with what is left empty left to splice's defaults. */}}
{{- define "splice.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- $_ := set $c "injectorNamespace" .Release.Namespace -}}
{{- $_ := set $c "revision" .Values.revision -}}
{{- $proxy := $c.proxy -}}
{{- if not $proxy.imagePullPolicy }}{{ $_ := unset $proxy "imagePullPolicy" }}{{ end -}}
{{- if not $proxy.holdCommand }}{{ $_ := unset $proxy "holdCommand" }}{{ end -}}
{{- $init := $c.init -}}
{{- if not $init.image }}{{ $_ := set $init "image" (include "splice.image" .) }}{{ end -}}
{{- if not $init.imagePullPolicy }}{{ $_ := unset $init "imagePullPolicy" }}{{ end -}}
{{- toYaml $c -}}
{{- end -}}
