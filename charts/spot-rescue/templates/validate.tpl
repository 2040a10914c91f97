{{- /* Rules across values that values.schema.json cannot express; each fails with the fix. */}}
{{- if and .Values.listener.podDisruptionBudget.enabled (ge (int .Values.listener.podDisruptionBudget.minAvailable) (int .Values.listener.replicas)) }}
{{- fail (printf "listener.podDisruptionBudget.minAvailable (%v) must be below listener.replicas (%v), or no listener could ever be moved" .Values.listener.podDisruptionBudget.minAvailable .Values.listener.replicas) }}
{{- end }}
{{- $workers := ternary .Values.worker.autoscaling.minReplicas .Values.worker.replicas .Values.worker.autoscaling.enabled }}
{{- if and .Values.worker.podDisruptionBudget.enabled (ge (int .Values.worker.podDisruptionBudget.minAvailable) (int $workers)) }}
{{- fail (printf "worker.podDisruptionBudget.minAvailable (%v) must be below the worker's replicas (%v), or no worker could ever be moved" .Values.worker.podDisruptionBudget.minAvailable $workers) }}
{{- end }}
{{- if and .Values.worker.autoscaling.enabled (gt (int .Values.worker.autoscaling.minReplicas) (int .Values.worker.autoscaling.maxReplicas)) }}
{{- fail (printf "worker.autoscaling.minReplicas (%v) must not exceed worker.autoscaling.maxReplicas (%v)" .Values.worker.autoscaling.minReplicas .Values.worker.autoscaling.maxReplicas) }}
{{- end }}
{{- if and (eq .Values.agent.runtime "runc") (not .Values.aws.endpoint) }}
{{- fail "agent.runtime runc runs containers of its own and is for the local stack only; use kubelet on a real cluster" }}
{{- end }}
