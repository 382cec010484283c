{{/*
The pod template of a Steward Deployment.
Call with (dict "root" $ "component" "server|core|facade").
  server: steward serve --role all     (HTTP 8080 + gRPC 50051)
  core:   steward serve --role core    (gRPC 50051 only)
  facade: steward serve --role facade  (HTTP 8080 only; calls the core)
*/}}
{{- define "steward.podTemplate" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $component := .component -}}
{{- $role := ternary "all" $component (eq $component "server") -}}
{{- $servesHttp := ne $component "core" -}}
{{- $servesGrpc := ne $component "facade" -}}
{{- $runsCore := ne $component "facade" -}}
{{- $cv := include "steward.componentValues" . | fromJson -}}
{{- $tls := $v.tls.existingSecret -}}
{{- $facadeClientCert := and $tls $v.tls.requireClientCert (eq $component "facade") -}}
metadata:
  labels:
    {{- include "steward.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $component }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "steward.serviceAccountName" $root }}
  # Steward never talks to the Kubernetes API.
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ include "steward.terminationGracePeriodSeconds" $root }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  topologySpreadConstraints:
  {{- if $v.topologySpreadConstraints }}
    {{- toYaml $v.topologySpreadConstraints | nindent 4 }}
  {{- else }}
    {{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
    - topologyKey: {{ . }}
      maxSkew: 1
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "steward.selectorLabels" $root | nindent 10 }}
          app.kubernetes.io/component: {{ $component }}
      matchLabelKeys:
        - pod-template-hash
    {{- end }}
  {{- end }}
  containers:
    - name: steward
      image: {{ include "steward.image" $root }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args:
        - serve
        - --role
        - {{ $role }}
        {{- if and $runsCore $v.trustedIssuers.existingSecret }}
        - --config
        - /etc/steward/config/steward.toml
        {{- end }}
      envFrom:
        - configMapRef:
            name: {{ include "steward.configMapName" $root }}
      env:
        {{- if $runsCore }}
        {{- if include "steward.postgres" $root }}
        - name: STEWARD_DATABASE_URL
          valueFrom:
            secretKeyRef:
              name: {{ $v.database.existingSecret }}
              key: {{ $v.database.existingSecretKey }}
        {{- else }}
        - name: STEWARD_DATABASE_URL
          value: "sqlite:///data/steward.db?mode=rwc"
        {{- end }}
        - name: STEWARD_MIGRATE_ON_START
          value: {{ ternary "false" "true" (eq (include "steward.migrationJob" $root) "true") | quote }}
        {{- with $v.registrationToken.existingSecret }}
        - name: STEWARD_REGISTRATION_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $v.registrationToken.key }}
        {{- end }}
        {{- with $v.extAuthz.tokenSecret }}
        - name: STEWARD_EXT_AUTHZ_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $v.extAuthz.tokenSecretKey }}
        {{- end }}
        {{- if $v.signingKey.existingSecret }}
        - name: STEWARD_SIGNING_KEY_FILE
          value: /etc/steward/keys/signing-key.pem
        {{- if $v.signingKey.previous }}
        - name: STEWARD_PREVIOUS_SIGNING_KEY_FILE
          value: /etc/steward/keys/previous-signing-key.pem
        {{- end }}
        {{- end }}
        {{- else }}
        - name: STEWARD_CORE_URL
          value: {{ include "steward.coreUrl" $root | quote }}
        {{- end }}
        {{- with $v.facadeToken.existingSecret }}
        - name: STEWARD_FACADE_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $v.facadeToken.key }}
        {{- end }}
        {{- if $tls }}
        - name: STEWARD_TLS_CERT_FILE
          value: /etc/steward/tls/tls.crt
        - name: STEWARD_TLS_KEY_FILE
          value: /etc/steward/tls/tls.key
        {{- if and $servesGrpc $v.tls.requireClientCert }}
        - name: STEWARD_TLS_CLIENT_CA_FILE
          value: /etc/steward/tls/ca.crt
        {{- end }}
        {{- if eq $component "facade" }}
        - name: STEWARD_CORE_TLS_CA_FILE
          value: /etc/steward/tls/ca.crt
        {{- end }}
        {{- if $facadeClientCert }}
        - name: STEWARD_CORE_TLS_CERT_FILE
          value: /etc/steward/facade-tls/tls.crt
        - name: STEWARD_CORE_TLS_KEY_FILE
          value: /etc/steward/facade-tls/tls.key
        {{- end }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        {{- if $servesHttp }}
        - name: http
          containerPort: 8080
          protocol: TCP
        {{- end }}
        {{- if $servesGrpc }}
        - name: grpc
          containerPort: 50051
          protocol: TCP
        {{- end }}
        {{- if $tls }}
        - name: health
          containerPort: 8081
          protocol: TCP
        {{- end }}
      {{- $p := $v.probes }}
      {{- if $tls }}
      # TLS on 8080/50051 (the kubelet's gRPC probe speaks no TLS): every
      # probe goes to the plain health listener, which serves nothing else.
      startupProbe:
        httpGet:
          path: {{ ternary "/healthz" "/readyz" (eq $component "facade") }}
          port: health
        periodSeconds: {{ $p.startup.periodSeconds }}
        timeoutSeconds: {{ $p.startup.timeoutSeconds }}
        failureThreshold: {{ $p.startup.failureThreshold }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: health
        periodSeconds: {{ $p.readiness.periodSeconds }}
        timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
        failureThreshold: {{ $p.readiness.failureThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: health
        periodSeconds: {{ $p.liveness.periodSeconds }}
        timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
        failureThreshold: {{ $p.liveness.failureThreshold }}
      {{- else }}
      {{- if eq $component "facade" }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ $p.startup.periodSeconds }}
        timeoutSeconds: {{ $p.startup.timeoutSeconds }}
        failureThreshold: {{ $p.startup.failureThreshold }}
      {{- else }}
      # gRPC health (grpc.health.v1, service ""): SERVING once the database
      # is reachable and migrated.
      startupProbe:
        grpc:
          port: 50051
        periodSeconds: {{ $p.startup.periodSeconds }}
        timeoutSeconds: {{ $p.startup.timeoutSeconds }}
        failureThreshold: {{ $p.startup.failureThreshold }}
      {{- end }}
      {{- if $servesHttp }}
      # /readyz: the core answers SERVING (database reachable, migrated).
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: {{ $p.readiness.periodSeconds }}
        timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
        failureThreshold: {{ $p.readiness.failureThreshold }}
      # /healthz: the process answers (independent of the database, so a
      # database outage makes pods unready but does not restart them).
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ $p.liveness.periodSeconds }}
        timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
        failureThreshold: {{ $p.liveness.failureThreshold }}
      {{- else }}
      readinessProbe:
        grpc:
          port: 50051
        periodSeconds: {{ $p.readiness.periodSeconds }}
        timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
        failureThreshold: {{ $p.readiness.failureThreshold }}
      livenessProbe:
        grpc:
          port: 50051
        periodSeconds: {{ $p.liveness.periodSeconds }}
        timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
        failureThreshold: {{ $p.liveness.failureThreshold }}
      {{- end }}
      {{- end }}
      lifecycle:
        # Distroless has no shell: the kubelet sleeps (Kubernetes >= 1.30)
        # while endpoints drop this pod, then Steward gets SIGTERM, reports
        # NOT_SERVING and drains for settings.shutdownGrace seconds.
        preStop:
          sleep:
            seconds: {{ $v.preStopSleepSeconds }}
      resources:
        {{- toYaml $cv.resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: data
          mountPath: /data
        {{- if and $runsCore $v.signingKey.existingSecret }}
        - name: signing-keys
          mountPath: /etc/steward/keys
          readOnly: true
        {{- end }}
        {{- if and $runsCore $v.trustedIssuers.existingSecret }}
        - name: config
          mountPath: /etc/steward/config
          readOnly: true
        {{- end }}
        {{- if $tls }}
        - name: tls
          mountPath: /etc/steward/tls
          readOnly: true
        {{- end }}
        {{- if $facadeClientCert }}
        - name: facade-tls
          mountPath: /etc/steward/facade-tls
          readOnly: true
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $v.tmpSizeLimit }}
    - name: data
      {{- if and (eq $component "server") (not (include "steward.postgres" $root)) $v.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ $v.persistence.existingClaim | default (printf "%s-data" (include "steward.fullname" $root)) }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- if and $runsCore $v.signingKey.existingSecret }}
    - name: signing-keys
      secret:
        secretName: {{ $v.signingKey.existingSecret }}
        defaultMode: 0440
        items:
          - key: signing-key.pem
            path: signing-key.pem
          {{- if $v.signingKey.previous }}
          - key: previous-signing-key.pem
            path: previous-signing-key.pem
          {{- end }}
    {{- end }}
    {{- if and $runsCore $v.trustedIssuers.existingSecret }}
    - name: config
      secret:
        secretName: {{ $v.trustedIssuers.existingSecret }}
        defaultMode: 0440
        items:
          - key: {{ $v.trustedIssuers.key }}
            path: steward.toml
    {{- end }}
    {{- if $tls }}
    - name: tls
      secret:
        secretName: {{ $tls }}
        defaultMode: 0440
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
          {{- if or $v.tls.requireClientCert (eq $component "facade") }}
          - key: ca.crt
            path: ca.crt
          {{- end }}
    {{- end }}
    {{- if $facadeClientCert }}
    - name: facade-tls
      secret:
        secretName: {{ $v.tls.facadeClientSecret }}
        defaultMode: 0440
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- end }}
{{- end }}
