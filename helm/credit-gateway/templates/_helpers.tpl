{{/* Names, labels and the pieces every pod shares. */}}

{{- define "credit-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "credit-gateway.fullname" -}}
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

{{/* Names of the parts; kept short enough that "-NAME" suffixes stay under 63 characters. */}}
{{- define "credit-gateway.witnessName" -}}
{{- printf "%s-witness" (include "credit-gateway.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}
{{- define "credit-gateway.postgresqlName" -}}
{{- printf "%s-postgresql" (include "credit-gateway.fullname" . | trunc 52 | trimSuffix "-") -}}
{{- end -}}
{{- define "credit-gateway.migrationsName" -}}
{{- printf "%s-migrations" (include "credit-gateway.fullname" . | trunc 52 | trimSuffix "-") -}}
{{- end -}}

{{- define "credit-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "credit-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "credit-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "credit-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "gateway"). */}}
{{- define "credit-gateway.componentSelector" -}}
{{ include "credit-gateway.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "credit-gateway.componentLabels" -}}
{{ include "credit-gateway.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "credit-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "credit-gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The gateway image; an empty tag falls back to appVersion, and "latest" is refused. */}}
{{- define "credit-gateway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag must name a release, not \"latest\"" -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{/* Any other image: call with an image map; the tag is mandatory and never "latest". */}}
{{- define "credit-gateway.pinnedImage" -}}
{{- $tag := required (printf "a tag is required for image %s" .repository) .tag | toString -}}
{{- if eq $tag "latest" -}}
{{- fail (printf "image %s must be pinned to a release, not \"latest\"" .repository) -}}
{{- end -}}
{{- printf "%s:%s" .repository $tag -}}
{{- end -}}

{{/*
Pod-level security context (restricted Pod Security Standard). Call with (dict "uid" N "gid" N "fsGroup" N).
*/}}
{{- define "credit-gateway.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
fsGroup: {{ .fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context: the same for every container, nothing to relax. */}}
{{- define "credit-gateway.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "credit-gateway.defaultPodSecurityContext" -}}
{{ include "credit-gateway.podSecurityContext" (dict "uid" .Values.podSecurity.runAsUser "gid" .Values.podSecurity.runAsGroup "fsGroup" .Values.podSecurity.fsGroup) }}
{{- end -}}

{{/* Settings keys the chart owns: config.extra may not override them. */}}
{{- define "credit-gateway.ownedSettings" -}}
environment policies_dir keys_dir clients_file ledger_url ledger_origin sources policy_engine opa_url opa_timeout_s issuer audience token_lifetime_s external_issuers text_scanner encryption_algorithm max_subjects max_rows_per_item log_level witnesses
{{- end -}}

{{/* gateway.yaml. Ledger and source URLs are not in it: they come from Secrets as GATEWAY_* variables. */}}
{{- define "credit-gateway.gatewayConfig" -}}
{{- $c := .Values.config -}}
{{- $owned := splitList " " (include "credit-gateway.ownedSettings" .) -}}
{{- range $key, $_ := $c.extra -}}
{{- if has $key $owned -}}
{{- fail (printf "config.extra.%s is set by the chart and cannot be overridden" $key) -}}
{{- end -}}
{{- end -}}
{{- $issuer := required "config.issuer is required (an https URL)" $c.issuer -}}
{{- if not (hasPrefix "https://" $issuer) -}}
{{- fail "config.issuer must be an https URL" -}}
{{- end -}}
{{- $issuers := list -}}
{{- range $c.externalIssuers -}}
{{- $issuers = append $issuers (dict "issuer" .issuer "jwks_url" .jwksUrl "audience" .audience "department_claim" (default "department" .departmentClaim)) -}}
{{- end -}}
{{- $settings := dict
  "environment" "production"
  "policies_dir" "/policies"
  "keys_dir" "/etc/credit-gateway/keys"
  "clients_file" "/etc/credit-gateway/clients/clients.yaml"
  "ledger_origin" (required "config.ledgerOrigin is required" $c.ledgerOrigin)
  "policy_engine" "opa"
  "opa_url" "http://127.0.0.1:8181"
  "opa_timeout_s" $c.opaTimeoutSeconds
  "issuer" $issuer
  "audience" $c.audience
  "token_lifetime_s" $c.tokenLifetimeSeconds
  "external_issuers" $issuers
  "text_scanner" $c.textScanner
  "encryption_algorithm" $c.encryptionAlgorithm
  "max_subjects" $c.maxSubjects
  "max_rows_per_item" $c.maxRowsPerItem
  "log_level" $c.logLevel
-}}
{{- if .Values.witness.enabled -}}
{{- $w := .Values.witness -}}
{{- $url := printf "http://%s:%v" (include "credit-gateway.witnessName" .) $w.port -}}
{{- $vkey := required "witness.vkey is required when the witness is enabled (gateway witness init prints it)" $w.vkey -}}
{{- $_ := set $settings "witnesses" (list (dict "url" $url "vkey" $vkey)) -}}
{{- end -}}
{{- toYaml (merge $settings (deepCopy $c.extra)) -}}
{{- end -}}

{{/* witness.yaml: its name and the one log it witnesses (this release's ledger), then its own config. */}}
{{- define "credit-gateway.witnessConfig" -}}
{{- $w := .Values.witness -}}
{{- $origin := required "config.ledgerOrigin is required" .Values.config.ledgerOrigin -}}
{{- $settings := dict
  "name" (default (printf "witness.%s" (include "credit-gateway.fullname" .)) $w.name)
  "logs" (list (dict "origin" $origin "public_key" "ledger.pub.pem"))
-}}
{{- toYaml (merge $settings (deepCopy $w.config)) -}}
{{- end -}}

{{/* Environment of every container running the gateway image against the ledger. */}}
{{- define "credit-gateway.databaseEnv" -}}
- name: GATEWAY_LEDGER_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required (a Secret holding the ledger database URL)" .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
{{- end -}}

{{/* Rules letting a pod resolve names. */}}
{{- define "credit-gateway.dnsEgress" -}}
- to:
    {{- toYaml .Values.networkPolicy.dnsTo | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{/* Rule letting a pod reach the ledger database. */}}
{{- define "credit-gateway.databaseEgress" -}}
{{- if .Values.postgresql.enabled -}}
- ports:
    - port: 5432
      protocol: TCP
  to:
    - podSelector:
        matchLabels:
          {{- include "credit-gateway.componentSelector" (dict "root" . "component" "postgresql") | nindent 10 }}
{{- else -}}
- ports:
    - port: {{ .Values.database.port }}
      protocol: TCP
  {{- with .Values.networkPolicy.databaseTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}
