#!/usr/bin/env python3
"""Checks every deployment file without a cluster, a Docker engine or a network beyond the
package registries: run by `make test` (tests/e2e/deploy.rs), or by hand from the repository
root with `python3 deploy/validate.py`.

* k8s/: renders the base and both overlays (kustomize_subset.py; where kubectl is installed,
  also with its embedded kustomize, and the two must agree), validates every object against
  the Kubernetes OpenAPI schemas in strict mode (PyPI kubernetes-validate, which ships them),
  then checks the cross-references (k8s_checks.py) and what each overlay promises.
* deploy/docker-compose.yml: the Compose specification's JSON schema, then the services, ports
  and variables (compose_checks.py).
* deploy/docker/Dockerfile: one target per service, building a binary that services/*/Cargo.toml
  defines and listening where the service's config says.

Prints what it checked; exits 1 with every failure listed.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.dont_write_bytecode = True  # keep deploy/ free of __pycache__

try:
    import jsonschema  # noqa: E402, F401  (compose_checks)
    import kubernetes_validate  # noqa: E402
    import yaml  # noqa: E402
except ImportError as missing:
    sys.exit(f"deploy/validate.py: {missing.name} is missing: `make test` installs the pinned "
             "PY_TEST_DEPS into .tools/py (then PYTHONPATH=.tools/py)")

import catalogue  # noqa: E402
import compose_checks  # noqa: E402
import k8s_checks  # noqa: E402
import kustomize_subset  # noqa: E402
from catalogue import ROOT, Service  # noqa: E402

# An older minor release still in upstream support when this was written, and the newest that
# kubernetes-validate ships schemas for: the manifests must be valid on both.
K8S_VERSIONS = ("1.35.0", "1.37.0")
K8S = ROOT / "k8s"
RENDERS = {"base": K8S / "base", "dev": K8S / "overlays" / "dev", "prod": K8S / "overlays" / "prod"}
SECRET_EXAMPLE = K8S / "base" / "secret.example.yaml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DASHBOARD = ROOT / "deploy" / "grafana" / "pantau.json"
# `pantau_platform::metrics::register("name", ...)` in the crates' sources: the metrics the code
# exports (a counter as name_total, a histogram as name_bucket/_sum/_count).
REGISTERED = re.compile(r'\bregister\(\s*"(pantau_[a-z0-9_]+)"')
DOCKERIGNORE_REQUIRED = {"target", ".tools", ".data", "app/node_modules", "app/dist"}


# ---- Dockerfile ---------------------------------------------------------------------------

def dockerfile_stages() -> dict[str, list[str]]:
    """Each stage's instructions (continuation lines joined), by stage name."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?$", line, re.I)
        if match:
            current = match.group(1) or f"stage{len(stages)}"
            stages[current] = [line]
        elif current is not None:
            stages[current].append(line)
    return stages


def check_dockerfile(services: dict[str, Service]) -> tuple[list[str], set[str]]:
    errors: list[str] = []
    stages = dockerfile_stages()

    def instructions(stage: str, keyword: str) -> list[str]:
        return [i[len(keyword):].strip() for i in stages.get(stage, [])
                if i.upper().startswith(keyword + " ")]

    runtime_users = instructions("runtime", "USER")
    if not runtime_users or not re.fullmatch(r"[1-9]\d*(:\d+)?", runtime_users[-1]):
        errors.append("Dockerfile: the runtime stage must end as a numeric non-root USER")
    for name, svc in services.items():
        where = f"Dockerfile: target {name}"
        build = " ".join(instructions(f"build-{name}", "RUN"))
        if not re.search(rf"cargo build --release --locked -p {re.escape(svc.package)}(\s|$)", build):
            errors.append(f"{where}: build-{name} does not build -p {svc.package}")
        if not re.search(rf"target/release/{re.escape(svc.binary)} /out/{re.escape(svc.binary)}(\s|$)",
                         build):
            errors.append(f"{where}: build-{name} does not keep target/release/{svc.binary}")
        if name not in stages:
            errors.append(f"{where}: missing")
            continue
        if not stages[name][0].split()[1] == "runtime":
            errors.append(f"{where}: not built FROM runtime")
        copies = instructions(name, "COPY")
        if f"--from=build-{name} /out/{svc.binary} /usr/local/bin/{svc.binary}" not in copies:
            errors.append(f"{where}: does not install {svc.binary} from build-{name}")
        if instructions(name, "ENTRYPOINT") != [f'["/usr/local/bin/{svc.binary}"]']:
            errors.append(f"{where}: ENTRYPOINT is not /usr/local/bin/{svc.binary}")
        exposed = {int(p) for e in instructions(name, "EXPOSE") for p in e.split()}
        if exposed != svc.ports:
            errors.append(f"{where}: EXPOSE {sorted(exposed)}, the service listens on "
                          f"{sorted(svc.ports)}")
        env = dict(re.findall(r"(PANTAU_[A-Z0-9_]+)=(\S+)", " ".join(instructions(name, "ENV"))))
        for var in env:
            if not svc.reads(var):
                errors.append(f"{where}: ENV {var}, which {svc.binary} does not read")
        want = {svc.addr_var: f"0.0.0.0:{svc.grpc_port}"}
        if svc.http_addr_var:
            want[svc.http_addr_var] = f"0.0.0.0:{svc.http_port}"
        for var, value in want.items():
            if env.get(var) != value:
                errors.append(f"{where}: ENV {var}={env.get(var)}, want {value}")
        app_dir = env.get(f"PANTAU_{name.upper()}_APP_DIR")
        if app_dir and f"--from=field-app /src/app/dist {app_dir}" not in copies:
            errors.append(f"{where}: PANTAU_{name.upper()}_APP_DIR={app_dir}, where no app is copied")
        probe = '["pantau-healthcheck", ' + ", ".join(
            f'"{p}"' for p in [svc.grpc_port] + ([svc.http_port] if svc.http_port else [])) + "]"
        if not any(h.endswith(f"CMD {probe}") for h in instructions(name, "HEALTHCHECK")):
            errors.append(f"{where}: HEALTHCHECK is not pantau-healthcheck on its ports")
    if not any("npm ci" in i for i in instructions("field-app", "RUN")) or not any(
            "npm run build" in i for i in instructions("field-app", "RUN")):
        errors.append("Dockerfile: field-app does not `npm ci` and `npm run build`")
    script = ROOT / "deploy" / "docker" / "healthcheck.sh"
    if not (script.is_file() and script.stat().st_mode & 0o111):
        errors.append("deploy/docker/healthcheck.sh: missing or not executable")

    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for entry in sorted(DOCKERIGNORE_REQUIRED - ignored):
        errors.append(f".dockerignore: does not leave out {entry}")
    return errors, {n for n in stages if n in services}


# ---- Kubernetes ---------------------------------------------------------------------------

def schema_errors(label: str, objects: list[dict[str, Any]]) -> list[str]:
    errors = []
    for obj in objects:
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.absolute_path)
                errors.append(f"{label}: {kustomize_subset.kind_name(obj)}: Kubernetes {version} "
                              f"schema: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                errors.append(f"{label}: {kustomize_subset.kind_name(obj)}: {e}")
    return errors


def comparable(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """Objects by kind/namespace/name, with Secret data decoded (kustomize wraps long base64)."""
    out = {}
    for obj in objects:
        obj = dict(obj)
        if obj["kind"] == "Secret" and obj.get("data"):
            obj["data"] = {k: base64.b64decode("".join(v.split())) for k, v in obj["data"].items()}
        out[f"{obj['kind']}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"] = obj
    return out


def kubectl_kustomize(directory: Path) -> list[dict[str, Any]] | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    done = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory}: {done.stderr.strip()}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def check_overlays(renders: dict[str, list[dict[str, Any]]], services: dict[str, Service]) -> list[str]:
    """What the overlays are for: dev is small, prod is replicated and pinned."""
    errors = []

    def by(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
        return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}

    base_hpa = by(renders["base"], "HorizontalPodAutoscaler")
    for overlay in ("dev", "prod"):
        objects = renders[overlay]
        namespaces = by(objects, "Namespace")
        if len(namespaces) != 1:
            errors.append(f"{overlay}: {len(namespaces)} Namespace objects, want 1")
            continue
        (ns_name, ns), = namespaces.items()
        if ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "restricted":
            errors.append(f"{overlay}: Namespace {ns_name} does not enforce the restricted profile")
        for o in objects:
            if o["kind"] != "Namespace" and o["metadata"].get("namespace") != ns_name:
                errors.append(f"{overlay}: {kustomize_subset.kind_name(o)} is not in {ns_name}")
        for name, d in by(objects, "Deployment").items():
            for c in d["spec"]["template"]["spec"]["containers"]:
                _, tag, digest = kustomize_subset.split_image(c["image"])
                if not digest and (not tag or tag == "latest" or (overlay == "prod" and tag == "dev")):
                    errors.append(f"{overlay}: Deployment {name}: image {c['image']} is not pinned")
        hpas = by(objects, "HorizontalPodAutoscaler")
        for name in services:
            hpa = hpas.get(name, {}).get("spec", {})
            base_max = base_hpa.get(name, {}).get("spec", {}).get("maxReplicas", 0)
            if overlay == "dev" and hpa.get("maxReplicas") != 1:
                errors.append(f"dev: {name} may scale past 1 replica")
            if overlay == "prod" and (hpa.get("minReplicas", 1) < 3
                                      or hpa.get("maxReplicas", 0) <= base_max):
                errors.append(f"prod: {name}'s autoscaler must start at 3 or more and reach "
                              f"past the base's {base_max}")
        if overlay == "prod":
            for name, d in by(objects, "Deployment").items():
                env = {e["name"]: e.get("value") for c in d["spec"]["template"]["spec"]["containers"]
                       for e in c.get("env", [])}
                if env.get("PANTAU_NATS_STREAM_REPLICAS") != "3":
                    errors.append(f"prod: Deployment {name}: PANTAU_NATS_STREAM_REPLICAS is not 3")
    return errors


def registered_metrics() -> set[str]:
    names: set[str] = set()
    for path in sorted((ROOT / "crates").rglob("src/**/*.rs")):
        for base in REGISTERED.findall(catalogue.non_test_source(path)):
            names |= {base + suffix for suffix in ("", "_total", "_bucket", "_sum", "_count")}
    return names


def check_dashboard() -> tuple[list[str], int]:
    """The Grafana dashboard parses, asks for a Prometheus datasource, and queries only
    metrics the code registers."""
    try:
        dashboard = json.loads(DASHBOARD.read_text())
    except (OSError, ValueError) as e:
        return [f"{DASHBOARD.relative_to(ROOT)}: {e}"], 0
    errors = []
    inputs = dashboard.get("__inputs", [])
    if not any(i.get("type") == "datasource" and i.get("pluginId") == "prometheus" for i in inputs):
        errors.append("deploy/grafana/pantau.json: no Prometheus datasource in __inputs")
    known = registered_metrics()
    exprs = [t.get("expr", "") for p in dashboard.get("panels", []) for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\bpantau_[a-z0-9_]+", e)}
    for metric in sorted(used - known):
        errors.append(f"deploy/grafana/pantau.json: queries {metric}, which no code registers")
    if not used:
        errors.append("deploy/grafana/pantau.json: no query uses a Pantau metric")
    return errors, len(used)


def main() -> int:
    errors: list[str] = []
    notes: list[str] = []
    services = catalogue.services()

    docker_errors, targets = check_dockerfile(services)
    errors += docker_errors
    errors += compose_checks.check(services, targets)
    dashboard_errors, dashboard_metrics = check_dashboard()
    errors += dashboard_errors

    nats_min = catalogue.nats_min_version()
    compose_nats = yaml.safe_load(compose_checks.COMPOSE_FILE.read_text())["services"]["nats"]["image"]
    nats_images = {compose_nats}

    example = kustomize_subset.load_yaml_docs(SECRET_EXAMPLE)
    documented = {s["metadata"]["name"]: k8s_checks.secret_keys(s) for s in example}
    errors += schema_errors("secret.example.yaml", example)
    base_resources = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"]
    if SECRET_EXAMPLE.name in base_resources:
        errors.append("k8s/base: secret.example.yaml must not be applied")

    nats_server = k8s_checks.nats_server_binary()
    renders: dict[str, list[dict[str, Any]]] = {}
    compared = []
    for label, directory in RENDERS.items():
        try:
            objects = kustomize_subset.render(directory)
        except kustomize_subset.Unsupported as e:
            errors.append(f"{label}: cannot render: {e}")
            continue
        renders[label] = objects
        try:
            reference = kubectl_kustomize(directory)
        except RuntimeError as e:
            errors.append(f"{label}: kustomize refuses it: {e}")
            reference = None
        if reference is not None:
            mine, theirs = comparable(objects), comparable(reference)
            for key in sorted(set(mine) | set(theirs)):
                if mine.get(key) != theirs.get(key):
                    errors.append(f"{label}: {key}: kustomize_subset.py and kubectl kustomize "
                                  "render it differently")
            compared.append(label)
        errors += schema_errors(label, objects)
        errors += k8s_checks.check(label, objects, services, documented, nats_server)
        notes += k8s_checks.pending_notes(objects, services)
        nats_images |= {c["image"] for o in objects if o["kind"] == "StatefulSet"
                        for c in o["spec"]["template"]["spec"]["containers"]}
    if set(renders) == set(RENDERS):
        errors += check_overlays(renders, services)
    if len(nats_images) != 1:
        errors.append(f"NATS images differ between compose and k8s: {sorted(nats_images)}")
    for image in nats_images:
        if (catalogue.image_version(image) or ()) < nats_min:
            errors.append(f"NATS image {image} is older than scripts/tools.sh's nats_min")

    count = sum(len(o) for o in renders.values())
    print(f"k8s: {count} objects in {', '.join(renders)}: strict schemas of Kubernetes "
          f"{' and '.join(v.rsplit('.', 1)[0] for v in K8S_VERSIONS)}, cross-references checked")
    print("k8s: kubectl kustomize agrees on " + ", ".join(compared) if compared
          else "k8s: kubectl not installed: rendered by kustomize_subset.py alone")
    print("k8s: nats.conf " + (f"accepted by {nats_server} -t" if nats_server
                               else "not run through nats-server -t (none found)"))
    print(f"compose: {len(yaml.safe_load(compose_checks.COMPOSE_FILE.read_text())['services'])} "
          f"services, schema {compose_checks.SCHEMA_PACKAGE}, env checked against services/*/src/config.rs")
    print(f"docker: targets {', '.join(sorted(targets))} checked against services/*/Cargo.toml")
    print(f"grafana: {DASHBOARD.relative_to(ROOT)} queries {dashboard_metrics} metrics, each "
          "registered by the code")
    for note in sorted(set(notes)):
        print(f"note: {note}")
    for error in errors:
        print(f"FAIL {error}")
    print(f"deploy/validate.py: {len(errors)} failure(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
