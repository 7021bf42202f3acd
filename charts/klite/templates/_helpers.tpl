{{/* Names: the release name when it contains the chart's name, else <release>-klite (so release "klite" gives a
     Service "klite", a StatefulSet "klite" with PVCs data-klite-0/1 and a headless Service "klite-headless"). */}}
{{- define "klite.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "klite.fullname" -}}
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

{{- define "klite.headless" -}}
{{- printf "%s-headless" (include "klite.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "klite.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "klite.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "klite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "klite.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "klite.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "klite.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The label selector of this release's pods, as klite's --label-selector wants it. */}}
{{- define "klite.selectorString" -}}
app.kubernetes.io/name={{ include "klite.name" . }},app.kubernetes.io/instance={{ .Release.Name }}
{{- end -}}

{{- define "klite.serviceFQDN" -}}
{{- printf "%s.%s.svc.%s" (include "klite.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* One cluster id for every pod of the release, fixed before any pod starts: the two replicated pods start at
     once with empty data dirs, and each would otherwise make up its own. Derived from the namespace and the name, so
     both modes (and a reinstall) find the same cluster in the bucket. */}}
{{- define "klite.clusterId" -}}
{{- default (printf "%s/%s" .Release.Namespace (include "klite.fullname" .) | sha256sum | trunc 22) .Values.broker.clusterId -}}
{{- end -}}

{{- define "klite.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Refusals that the schema cannot say clearly. */}}
{{- define "klite.validate" -}}
{{- if and .Values.replication.enabled (not .Values.s3.bucket) -}}
{{- fail "replication.enabled=true requires s3.bucket: the standby takes over through a lease object in the bucket, and the metadata lives there (set s3.bucket, e.g. --set s3.bucket=my-klite-data)" -}}
{{- end -}}
{{- end -}}

{{/* The pod template shared by the Deployment (single) and the StatefulSet (replicated). */}}
{{- define "klite.podTemplate" -}}
{{- $replicated := .Values.replication.enabled -}}
metadata:
  labels:
    {{- include "klite.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "klite.serviceAccountName" . }}
  # Only the replicated pods talk to the Kubernetes API (to label the primary's pod).
  automountServiceAccountToken: {{ $replicated }}
  # No docker-link variables: the Service "klite" would put KLITE_PORT, KLITE_SERVICE_HOST, ... into the environment,
  # where klite reads its KLITE_ settings.
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: klite
      image: {{ include "klite.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --listen={{ .Values.broker.listen }}
        - --advertised-addr={{ default (printf "%s:%v" (include "klite.serviceFQDN" .) .Values.service.port) .Values.broker.advertisedAddr }}
        - --data-dir={{ .Values.broker.dataDir }}
        - --cluster-id={{ include "klite.clusterId" . }}
        - --log-level={{ .Values.broker.logLevel }}
        - --default-partitions={{ .Values.broker.defaultPartitions }}
        - --auto-create-topics={{ .Values.broker.autoCreateTopics }}
        - --health-addr=:{{ .Values.broker.healthPort }}
        {{- if .Values.s3.bucket }}
        - --s3-bucket={{ .Values.s3.bucket }}
        {{- with .Values.s3.region }}
        - --s3-region={{ . }}
        {{- end }}
        {{- with .Values.s3.endpoint }}
        - --s3-endpoint={{ . }}
        {{- end }}
        {{- with .Values.s3.prefix }}
        - --s3-prefix={{ . }}
        {{- end }}
        {{- end }}
        {{- if $replicated }}
        - --label-selector={{ include "klite.selectorString" . }}
        {{- include "klite.replicationArgs" . | nindent 8 }}
        {{- end }}
        {{- with .Values.broker.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        {{- if $replicated }}
        # klite passes the service account's CA to the API client itself; this also covers anything else in the
        # process that talks TLS to the API server (Bun ignores the client library's own CA option).
        - name: NODE_EXTRA_CA_CERTS
          value: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
        {{- end }}
        {{- with .Values.broker.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if .Values.s3.existingSecret }}
      envFrom:
        - secretRef:
            name: {{ .Values.s3.existingSecret }}
      {{- end }}
      ports:
        - name: kafka
          containerPort: {{ include "klite.listenPort" . }}
        {{- if $replicated }}
        - name: replication
          containerPort: {{ .Values.replication.port }}
        {{- end }}
        - name: health
          containerPort: {{ .Values.broker.healthPort }}
      startupProbe:
        # Start-up replays the metadata log and the WAL (seconds; longer after a crash with a large WAL).
        httpGet:
          path: /livez
          port: health
        periodSeconds: 2
        failureThreshold: 150
      livenessProbe:
        httpGet:
          path: /livez
          port: health
        periodSeconds: 10
        timeoutSeconds: 5
        failureThreshold: 6
      readinessProbe:
        # 200 once recovery is done, on the primary and the standby alike: the Service picks the primary by label.
        httpGet:
          path: /readyz
          port: health
        periodSeconds: 5
        timeoutSeconds: 3
        failureThreshold: 3
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: {{ .Values.broker.dataDir }}
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir: {}
    {{- if not .Values.persistence.enabled }}
    - name: data
      emptyDir: {}
    {{- else if not $replicated }}
    - name: data
      persistentVolumeClaim:
        claimName: {{ include "klite.fullname" . }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.affinity }}
  affinity:
    {{- toYaml .Values.affinity | nindent 4 }}
  {{- else if $replicated }}
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "klite.selectorLabels" . | nindent 16 }}
  {{- end }}
{{- end -}}

{{/* The Kafka port: the port of broker.listen (":9092" → 9092). */}}
{{- define "klite.listenPort" -}}
{{- regexReplaceAll "^.*:" .Values.broker.listen "" -}}
{{- end -}}

{{/* Replication flags: this pod is reachable by its stable name under the headless Service. */}}
{{- define "klite.replicationArgs" -}}
{{- $headless := printf "%s.%s.svc.%s" (include "klite.headless" .) .Release.Namespace .Values.clusterDomain -}}
- --replication-addr=:{{ .Values.replication.port }}
- --replication-advertised-addr=$(POD_NAME).{{ $headless }}:{{ .Values.replication.port }}
- --replication-id=$(POD_NAME)
- --replication-tls-san=*.{{ $headless }}
- --replication-ack-timeout={{ .Values.replication.ackTimeout }}
- --lease-duration={{ .Values.replication.leaseDuration }}
- --lease-renew-interval={{ .Values.replication.leaseRenewInterval }}
- --lease-retry-interval={{ .Values.replication.leaseRetryInterval }}
{{- end -}}

{{/* persistence.storageClass: "" = the default class (field left out), "-" = no class, else that class. */}}
{{- define "klite.storageClass" -}}
{{- if eq .Values.persistence.storageClass "-" -}}
storageClassName: ""
{{- else if .Values.persistence.storageClass -}}
storageClassName: {{ .Values.persistence.storageClass | quote }}
{{- end -}}
{{- end -}}
