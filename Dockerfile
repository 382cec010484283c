# syntax=docker/dockerfile:1
#
# Steward container image: the `steward` binary on distroless (glibc, no shell,
# non-root). Build from the repository root:
#
#   docker build -t steward:0.1.0 .
#
# The chart in helm/steward runs this image with a read-only root filesystem,
# /data (SQLite, optional audit file) and /tmp as writable volumes.

# ---- build -------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# The same command CI uses, so the image runs the binary CI tested. protoc is
# vendored by build.rs; no system packages are needed.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    cargo build --release --locked --bin steward \
 && install -d -o 65532 -g 65532 /rootfs/data

# ---- runtime -----------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="steward" \
      org.opencontainers.image.description="Steward, a User-Managed Access (UMA) authorization server" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /src/target/release/steward /usr/local/bin/steward
# /data owned by nonroot: the default SQLite file (sqlite://steward.db) lands here.
COPY --from=builder --chown=65532:65532 /rootfs/data /data
ENV STEWARD_HTTP_ADDR=0.0.0.0:8080 \
    STEWARD_GRPC_ADDR=0.0.0.0:50051
WORKDIR /data
# 65532 is distroless's `nonroot`; numeric so runAsNonRoot can verify it.
USER 65532:65532
# 8080: HTTP façade (UMA/OAuth endpoints, /healthz, /readyz, /metrics)
# 50051: gRPC core (services, Envoy ext_authz, grpc.health.v1, reflection)
EXPOSE 8080 50051
# No HEALTHCHECK on purpose: distroless has no shell or curl, and Kubernetes
# probes (httpGet /healthz and /readyz, native gRPC health) do the checking.
ENTRYPOINT ["/usr/local/bin/steward"]
CMD ["serve"]
