{{/* Names, labels and the computed operator settings. */}}

{{- define "appdb-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "appdb-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "appdb-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "appdb-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "appdb-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "appdb-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: appdb-operator
{{- end -}}

{{- define "appdb-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "appdb-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "appdb-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* "true" when leader election is on: more than one replica, or asked for. */}}
{{- define "appdb-operator.leaderElection" -}}
{{- $le := .Values.config.leaderElection | default dict -}}
{{- if or (gt (int .Values.replicaCount) 1) (eq (toString (index $le "enabled")) "true") -}}
true
{{- else -}}
false
{{- end -}}
{{- end -}}

{{- define "appdb-operator.leaseName" -}}
{{- $le := .Values.config.leaderElection | default dict -}}
{{- default (include "appdb-operator.fullname" .) (index $le "name") -}}
{{- end -}}

{{- define "appdb-operator.leaseNamespace" -}}
{{- $le := .Values.config.leaderElection | default dict -}}
{{- default .Release.Namespace (index $le "namespace") -}}
{{- end -}}

{{- define "appdb-operator.cacheDir" -}}
/var/cache/appdb-operator
{{- end -}}

{{- define "appdb-operator.httpPort" -}}
{{- .Values.config.httpPort | default 8080 | int -}}
{{- end -}}

{{/*
The namespaces where the operator reads and writes AppDatabases and Events,
as a JSON list; empty means every namespace (ClusterRoles).
*/}}
{{- define "appdb-operator.watchNamespaces" -}}
{{- .Values.config.watchNamespaces | default list | uniq | toJson -}}
{{- end -}}

{{/* Namespaces where Secrets may be read, as a JSON list; empty: all. */}}
{{- define "appdb-operator.secretNamespaces" -}}
{{- if .Values.rbac.secretNamespaces -}}
{{- .Values.rbac.secretNamespaces | uniq | toJson -}}
{{- else -}}
{{- include "appdb-operator.watchNamespaces" . -}}
{{- end -}}
{{- end -}}

{{/* The operator config file (DESIGN section 5), as YAML. */}}
{{- define "appdb-operator.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $le := deepCopy (index $cfg "leaderElection" | default dict) -}}
{{- $_ := set $le "enabled" (eq (include "appdb-operator.leaderElection" .) "true") -}}
{{- $_ := set $le "namespace" (include "appdb-operator.leaseNamespace" .) -}}
{{- $_ := set $le "name" (include "appdb-operator.leaseName" .) -}}
{{- $_ := set $cfg "leaderElection" $le -}}
{{- $_ := set $cfg "environment" .Values.environment -}}
{{- $_ := set $cfg "cacheDir" (include "appdb-operator.cacheDir" .) -}}
{{- $_ := set $cfg "httpPort" (include "appdb-operator.httpPort" . | int) -}}
{{- /* verify-ca/verify-full need a root certificate; the image has no
       ~/.postgresql/root.crt, so default to caBundle, else the system bundle. */ -}}
{{- $instances := dict -}}
{{- range $name, $inst := (index $cfg "instances" | default dict) -}}
{{- $i := deepCopy $inst -}}
{{- $mode := index $i "sslMode" | default "verify-full" -}}
{{- if and (has $mode (list "verify-ca" "verify-full")) (not (index $i "sslRootCert")) -}}
{{- $_ := set $i "sslRootCert" (ternary "/etc/appdb-operator/rds-ca.pem" "/etc/ssl/certs/ca-certificates.crt" (ne $.Values.caBundle "")) -}}
{{- end -}}
{{- $_ := set $instances $name $i -}}
{{- end -}}
{{- $_ := set $cfg "instances" $instances -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Refuses combinations that cannot work. */}}
{{- define "appdb-operator.checks" -}}
{{- if and (eq .Values.environment "prod") (not .Values.approvals.group) -}}
{{- fail "approvals.group is required when environment is prod: without it nobody can approve a resource" -}}
{{- end -}}
{{- if and .Values.persistence.enabled (gt (int .Values.replicaCount) 1) (not .Values.persistence.existingClaim) (not (has "ReadWriteMany" .Values.persistence.accessModes)) -}}
{{- fail "persistence.accessModes must include ReadWriteMany when replicaCount > 1: all replicas mount the one cache claim" -}}
{{- end -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int (.Values.config.lockTimeoutSeconds | default 30)) -}}
{{- fail "terminationGracePeriodSeconds must be longer than config.lockTimeoutSeconds, so a running reconcile can finish" -}}
{{- end -}}
{{- end -}}
