{{/* Names and labels shared by every template. */}}

{{- define "spot-rescue.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spot-rescue.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "spot-rescue.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "spot-rescue.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: spot-rescue
{{- end }}

{{/* Selector labels of one component: (dict "ctx" $ "component" "listener") */}}
{{- define "spot-rescue.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spot-rescue.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "spot-rescue.componentLabels" -}}
{{ include "spot-rescue.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* ServiceAccount name of a component: (dict "ctx" $ "component" "worker") */}}
{{- define "spot-rescue.serviceAccountName" -}}
{{- $sa := (index .ctx.Values .component).serviceAccount }}
{{- if $sa.create }}
{{- default (printf "%s-%s" (include "spot-rescue.fullname" .ctx) .component) $sa.name }}
{{- else }}
{{- required (printf "%s.serviceAccount.name is required when %s.serviceAccount.create is false" .component .component) $sa.name }}
{{- end }}
{{- end }}

{{- define "spot-rescue.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "spot-rescue.agentImage" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.agentDigest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.agentDigest }}
{{- else }}
{{- printf "%s:%s%s" .Values.image.repository $tag .Values.image.agentTagSuffix }}
{{- end }}
{{- end }}

{{/* Environment every component shares (commonSettings in services/common/config.ts). */}}
{{- define "spot-rescue.commonEnv" -}}
- name: SPOT_RESCUE_CLUSTER_NAME
  value: {{ required "clusterName is required: the EKS cluster name" .Values.clusterName | quote }}
- name: SPOT_RESCUE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: AWS_REGION
  value: {{ required "aws.region is required" .Values.aws.region | quote }}
{{- with .Values.aws.endpoint }}
- name: SPOT_RESCUE_AWS_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* The Redis URL carries its password: always from a Secret, never in the pod spec. */}}
{{- define "spot-rescue.redisSecretName" -}}
{{- default (printf "%s-redis" (include "spot-rescue.fullname" .)) .Values.redis.existingSecret }}
{{- end }}

{{- define "spot-rescue.jobSigningSecretName" -}}
{{- default (printf "%s-job-signing" (include "spot-rescue.fullname" .)) .Values.jobSigning.existingSecret }}
{{- end }}

{{/* The job signing key, for the listener and the worker only (never the agent). */}}
{{- define "spot-rescue.jobSigningEnv" -}}
- name: SPOT_RESCUE_JOB_SIGNING_KEY_FILE
  value: /var/run/secrets/spot-rescue-job-signing/key
{{- end }}

{{- define "spot-rescue.jobSigningVolumeMount" -}}
- {name: job-signing-key, mountPath: /var/run/secrets/spot-rescue-job-signing, readOnly: true}
{{- end }}

{{- define "spot-rescue.jobSigningVolume" -}}
- name: job-signing-key
  secret:
    secretName: {{ include "spot-rescue.jobSigningSecretName" . }}
    # 0400: read by the container's user only.
    defaultMode: 256
    items:
      - {key: {{ ternary .Values.jobSigning.existingSecretKey "key" (ne .Values.jobSigning.existingSecret "") }}, path: key}
{{- end }}

{{- define "spot-rescue.redisEnv" -}}
- name: SPOT_RESCUE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "spot-rescue.redisSecretName" . }}
      key: {{ ternary .Values.redis.existingSecretKey "redis-url" (ne .Values.redis.existingSecret "") }}
- name: SPOT_RESCUE_QUEUE_PREFIX
  value: {{ .Values.redis.queuePrefix | quote }}
{{- end }}

{{- define "spot-rescue.opsEnv" -}}
- name: SPOT_RESCUE_OPS_PORT
  value: {{ .Values.metrics.port | quote }}
{{- end }}

{{/* Pod-level hardening for the listener and the worker. */}}
{{- define "spot-rescue.restrictedPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "spot-rescue.restrictedContainerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* Node affinity preferring on-demand capacity (EKS managed node groups and Karpenter labels). */}}
{{- define "spot-rescue.preferOnDemand" -}}
nodeAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      preference:
        matchExpressions:
          - key: eks.amazonaws.com/capacityType
            operator: In
            values: [ON_DEMAND]
    - weight: 100
      preference:
        matchExpressions:
          - key: karpenter.sh/capacity-type
            operator: In
            values: [on-demand]
{{- end }}

{{/* Affinity of a Deployment component: explicit affinity, else the on-demand preference, else none. */}}
{{- define "spot-rescue.affinity" -}}
{{- $c := index .ctx.Values .component }}
{{- if $c.affinity }}
affinity:
  {{- toYaml $c.affinity | nindent 2 }}
{{- else if $c.preferOnDemand }}
affinity:
  {{- include "spot-rescue.preferOnDemand" . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Topology spread with the component's selector filled in. */}}
{{- define "spot-rescue.topologySpread" -}}
{{- $c := index .ctx.Values .component }}
{{- $selector := dict "matchLabels" (include "spot-rescue.selectorLabels" . | fromYaml) }}
{{- $constraints := list }}
{{- range $c.topologySpreadConstraints }}
{{- $constraints = append $constraints (merge (dict "labelSelector" $selector) .) }}
{{- end }}
{{- with $constraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "spot-rescue.agentTlsSecretName" -}}
{{- default (printf "%s-agent-tls" (include "spot-rescue.fullname" .)) .Values.agent.tls.existingSecret }}
{{- end }}

{{/* Whether restored copies need the restore-as grant: only where the admission policy enforces it. */}}
{{- define "spot-rescue.restoreServiceAccounts" -}}
{{- ternary "granted" "any" (and .Values.admissionPolicy.enabled (eq .Values.admissionPolicy.serviceAccounts "granted")) -}}
{{- end }}
