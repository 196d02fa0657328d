"""What the repository says the services are, read from the code rather than restated: each
service's package and binary (services/*/Cargo.toml), its listen ports (the defaults of its
PANTAU_*_ADDR in src/config.rs) and the environment variables its configuration reads. The
deployment files are checked against this, so a renamed binary, a moved port or a misspelt
variable in a manifest fails `make test`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Variables the manifests set before the services read them, with the reason. validate.py
# prints a note while one is still unread, so the entry can go once the code has it.
PENDING_ENV: dict[str, str] = {}

# The shared crates whose settings every service reads (config layering, telemetry, the event
# store, projections).
SHARED_CRATES = ("platform", "eventstore", "projection")

LITERAL = re.compile(r'"((?:PANTAU|OTEL)_[A-Z0-9_]+)"')
ADDR_DEFAULT = re.compile(r'\(\s*"(PANTAU_[A-Z0-9_]+_ADDR)"\s*,\s*"[^"]*:(\d+)"\s*\)')


@dataclass
class Service:
    name: str
    package: str
    binary: str
    grpc_port: int
    addr_var: str
    http_port: int | None = None
    http_addr_var: str | None = None
    metrics_port: int | None = None
    metrics_addr_var: str | None = None
    env: set[str] = field(default_factory=set)

    @property
    def ports(self) -> set[int]:
        return {self.grpc_port} | ({self.http_port} if self.http_port else set())

    def reads(self, var: str) -> bool:
        return var in self.env or var in PENDING_ENV or var.startswith("OTEL_")


def non_test_source(path: Path) -> str:
    """A Rust file without its unit tests, whose literals are not settings."""
    return path.read_text().split("#[cfg(test)]", 1)[0]


def shared_env() -> set[str]:
    names: set[str] = set()
    for crate in SHARED_CRATES:
        for path in sorted((ROOT / "crates" / crate / "src").rglob("*.rs")):
            names.update(LITERAL.findall(non_test_source(path)))
    return names


def binary_of(cargo_toml: Path) -> tuple[str, str]:
    manifest = tomllib.loads(cargo_toml.read_text())
    package = manifest["package"]["name"]
    bins = [b["name"] for b in manifest.get("bin", [])]
    if bins:
        if len(bins) != 1:
            raise ValueError(f"{cargo_toml}: more than one [[bin]]")
        return package, bins[0]
    if not (cargo_toml.parent / "src" / "main.rs").is_file():
        raise ValueError(f"{cargo_toml}: no binary (no src/main.rs, no [[bin]])")
    return package, package


def services() -> dict[str, Service]:
    shared = shared_env()
    out: dict[str, Service] = {}
    for cargo_toml in sorted((ROOT / "services").glob("*/Cargo.toml")):
        name = cargo_toml.parent.name
        config = non_test_source(cargo_toml.parent / "src" / "config.rs")
        package, binary = binary_of(cargo_toml)
        addrs = dict(ADDR_DEFAULT.findall(config))
        addr_var = f"PANTAU_{name.upper()}_ADDR"
        http_var = f"PANTAU_{name.upper()}_HTTP_ADDR"
        if addr_var not in addrs:
            raise ValueError(f"{cargo_toml.parent}/src/config.rs: no default for {addr_var}")
        svc = Service(
            name=name,
            package=package,
            binary=binary,
            grpc_port=int(addrs[addr_var]),
            addr_var=addr_var,
            env=set(LITERAL.findall(config)) | shared,
        )
        if http_var in addrs:
            svc.http_port, svc.http_addr_var = int(addrs[http_var]), http_var
        metrics_var = f"PANTAU_{name.upper()}_METRICS_ADDR"
        if metrics_var in addrs:
            svc.metrics_port, svc.metrics_addr_var = int(addrs[metrics_var]), metrics_var
        out[name] = svc
    if not out:
        raise ValueError("no services/*/Cargo.toml")
    return out


def nats_min_version() -> tuple[int, ...]:
    """The oldest nats-server the services work with, as scripts/tools.sh enforces it."""
    text = (ROOT / "scripts" / "tools.sh").read_text()
    match = re.search(r"^\s*nats_min=([0-9.]+)", text, re.M)
    if not match:
        raise ValueError("scripts/tools.sh: no nats_min")
    return tuple(int(p) for p in match.group(1).split("."))


def image_version(image: str) -> tuple[int, ...] | None:
    """nats:2.15.1-alpine -> (2, 15, 1)."""
    match = re.search(r":(\d+(?:\.\d+)*)", image)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None
