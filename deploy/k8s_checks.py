"""Cross-references in one rendered set of Kubernetes objects (base, dev or prod): the things a
schema cannot see. Every selector selects pods, every probe and Service port is a container
port, every service has its autoscaler, disruption budget and network policy, the network
policies let exactly the intended calls through, the settings are ones the services read, the
secrets they name exist, and NATS's config agrees with its StatefulSet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from catalogue import PENDING_ENV, ROOT, Service
from kustomize_subset import split_image

# The NATS users and permissions the k8s ConfigMap must carry.
AUTH_CONF = ROOT / "deploy" / "nats" / "auth.conf"

# The namespace of the ingress controller that reporting's NetworkPolicy admits (its
# kubernetes.io/metadata.name label), and the cluster DNS pods every pod must reach.
INGRESS_NAMESPACE = {"kubernetes.io/metadata.name": "ingress-nginx"}
# The namespace of the Prometheus that scrapes every service's metrics port.
MONITORING_NAMESPACE = {"kubernetes.io/metadata.name": "monitoring"}
DNS = ({"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
NATS_CLIENT_PORT, NATS_CLUSTER_PORT, POSTGRES_PORT = 4222, 6222, 5432


@dataclass
class Peer:
    """One end of a connection: a pod here (labels), a pod in another namespace, or an
    address outside the cluster."""

    labels: dict[str, str] | None = None
    namespace: dict[str, str] | None = None
    ip: bool = False

    def __str__(self) -> str:
        if self.ip:
            return "an outside address"
        pods = (self.labels or {}).get("app.kubernetes.io/name") or self.labels or "any pod"
        if self.namespace is not None:
            return f"{pods} in namespace {self.namespace}"
        return f"{pods}"


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    if "matchExpressions" in selector:
        raise ValueError("matchExpressions are not checked by deploy/validate.py")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def quantity(value: Any) -> float:
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
             "Ti": 2**40}
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    if not match or match.group(2) not in units | {"": 1}:
        raise ValueError(f"unparseable quantity {value!r}")
    return float(match.group(1)) * (units.get(match.group(2), 1))


class Render:
    def __init__(self, name: str, objects: list[dict[str, Any]]):
        self.name = name
        self.objects = objects
        self.errors: list[str] = []

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        return {o["metadata"]["name"]: o for o in self.objects if o["kind"] == kind}

    def workloads(self) -> dict[str, dict[str, Any]]:
        return self.of("Deployment") | self.of("StatefulSet")

    def fail(self, message: str) -> None:
        self.errors.append(f"{self.name}: {message}")

    def pods_selected(self, selector: dict[str, Any] | None) -> list[str]:
        return [n for n, w in self.workloads().items()
                if selector and selector.get("matchLabels")
                and selects(selector, pod_labels(w))]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"].get("labels", {})


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return workload["spec"]["template"]["spec"]["containers"]


def container_ports(workload: dict[str, Any]) -> tuple[set[int], dict[str, int]]:
    numbers, names = set(), {}
    for c in containers(workload):
        for p in c.get("ports", []):
            numbers.add(p["containerPort"])
            if "name" in p:
                names[p["name"]] = p["containerPort"]
    return numbers, names


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


# ---- selectors, ports, probes -------------------------------------------------------------

def check_selectors_and_ports(r: Render) -> None:
    for name, w in r.workloads().items():
        if not selects(w["spec"]["selector"], pod_labels(w)):
            r.fail(f"{w['kind']} {name}: its selector does not match its own pod labels")
        numbers, names = container_ports(w)
        for c in containers(w):
            for probe_kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(probe_kind)
                if not probe:
                    continue
                handler = probe.get("grpc") or probe.get("httpGet") or probe.get("tcpSocket")
                port = handler.get("port") if handler else None
                if port not in numbers and port not in names:
                    r.fail(f"{w['kind']} {name}: {probe_kind} uses port {port}, "
                           f"not a containerPort (has {sorted(numbers)})")
    for name, svc in r.of("Service").items():
        # A Service's selector is a bare label map, not a LabelSelector.
        targets = r.pods_selected({"matchLabels": svc["spec"].get("selector") or {}})
        if len(targets) != 1:
            r.fail(f"Service {name}: selector matches {len(targets)} workloads ({targets})")
            continue
        numbers, names = container_ports(r.workloads()[targets[0]])
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if target not in numbers and target not in names:
                r.fail(f"Service {name}: port {p['port']} targets {target}, "
                       f"not a containerPort of {targets[0]}")


def check_companions(r: Render) -> None:
    """Every service Deployment has an autoscaler, a disruption budget and an ingress policy;
    no orphan points at nothing."""
    deployments = r.of("Deployment")
    hpas = r.of("HorizontalPodAutoscaler")
    for name, d in deployments.items():
        if "replicas" in d["spec"]:
            r.fail(f"Deployment {name}: sets replicas, which its autoscaler owns")
        owners = [h for h in hpas.values() if h["spec"]["scaleTargetRef"] ==
                  {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}]
        if len(owners) != 1:
            r.fail(f"Deployment {name}: {len(owners)} HorizontalPodAutoscalers")
        for c in containers(d):
            if "cpu" not in c.get("resources", {}).get("requests", {}):
                r.fail(f"Deployment {name}: no cpu request, which the autoscaler divides by")
    for name, h in hpas.items():
        ref = h["spec"]["scaleTargetRef"]
        if ref["name"] not in deployments:
            r.fail(f"HorizontalPodAutoscaler {name}: targets missing {ref['kind']} {ref['name']}")
        if h["spec"].get("minReplicas", 1) > h["spec"]["maxReplicas"]:
            r.fail(f"HorizontalPodAutoscaler {name}: minReplicas above maxReplicas")
    for name in r.workloads():
        pdbs = [p for p, o in r.of("PodDisruptionBudget").items()
                if name in r.pods_selected(o["spec"]["selector"])]
        if len(pdbs) != 1:
            r.fail(f"workload {name}: {len(pdbs)} PodDisruptionBudgets ({pdbs})")
    for name, p in r.of("PodDisruptionBudget").items():
        if not r.pods_selected(p["spec"]["selector"]):
            r.fail(f"PodDisruptionBudget {name}: selects no pods")
    for name in deployments:
        own = [n for n, p in r.of("NetworkPolicy").items()
               if "Ingress" in p["spec"].get("policyTypes", [])
               and name in r.pods_selected(p["spec"]["podSelector"])]
        if not own:
            r.fail(f"Deployment {name}: no NetworkPolicy of its own for ingress")


# ---- network policies ---------------------------------------------------------------------

def peer_matches(rule_peer: dict[str, Any], peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        return peer.ip
    if "namespaceSelector" in rule_peer:
        return (peer.namespace is not None and selects(rule_peer["namespaceSelector"], peer.namespace)
                and ("podSelector" not in rule_peer or selects(rule_peer["podSelector"], peer.labels or {})))
    return peer.namespace is None and not peer.ip and selects(rule_peer["podSelector"], peer.labels or {})


def port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("port") == port and p.get("protocol", "TCP") == protocol
                            for p in ports)


def allowed(r: Render, src: Peer, dst: Peer, port: int, protocol: str = "TCP",
            sides: tuple[str, ...] = ("Egress", "Ingress")) -> bool:
    """Whether the namespace's policies let src open port on dst: the source's egress and the
    destination's ingress (of `sides`) must both allow it where that end is a pod here."""
    policies = list(r.of("NetworkPolicy").values())
    for end, direction, field, other in ((src, "Egress", "to", dst), (dst, "Ingress", "from", src)):
        if direction not in sides or end.namespace is not None or end.ip:
            continue  # outside this namespace: not ours to judge
        isolating = [p for p in policies if direction in p["spec"].get("policyTypes", [])
                     and (p["spec"]["podSelector"] == {} or selects(p["spec"]["podSelector"], end.labels or {}))]
        if not isolating:
            continue
        rules = [rule for p in isolating for rule in p["spec"].get(direction.lower(), [])]
        if not any(port_matches(rule, port, protocol)
                   and (not rule.get(field) or any(peer_matches(x, other) for x in rule[field]))
                   for rule in rules):
            return False
    return True


def check_network(r: Render, catalogue: dict[str, Service]) -> None:
    policies = r.of("NetworkPolicy")
    if not any(p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
               and not p["spec"].get("egress")
               and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
               for p in policies.values()):
        r.fail("no default-deny NetworkPolicy")
    for name, p in policies.items():
        spec = p["spec"]
        if spec["podSelector"] != {} and not r.pods_selected(spec["podSelector"]):
            r.fail(f"NetworkPolicy {name}: podSelector selects no pods")
        for direction, field in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(direction, []):
                for peer in rule.get(field, []):
                    if "podSelector" in peer and "namespaceSelector" not in peer \
                            and not r.pods_selected(peer["podSelector"]):
                        r.fail(f"NetworkPolicy {name}: {direction} peer {peer['podSelector']} "
                               "selects no pods")

    workloads = r.workloads()
    pod = {n: Peer(labels=pod_labels(w)) for n, w in workloads.items()}
    if "nats" not in pod or "reporting" not in pod:
        r.fail("no nats or reporting workload")
        return
    must = [(pod["nats"], pod["nats"], NATS_CLUSTER_PORT, "TCP", "NATS routes")]
    must_not = []
    for name, svc in catalogue.items():
        if name not in pod:
            continue
        must += [
            (pod[name], pod["nats"], NATS_CLIENT_PORT, "TCP", "NATS"),
            (pod[name], Peer(labels=DNS[1], namespace=DNS[0]), 53, "UDP", "DNS"),
            (pod[name], Peer(ip=True), POSTGRES_PORT, "TCP", "PostgreSQL"),
        ]
        must_not.append((pod[name], pod["nats"], NATS_CLUSTER_PORT, "TCP", "NATS routes"))
        ingress = Peer(labels={}, namespace=INGRESS_NAMESPACE)
        if svc.metrics_port:
            must.append((Peer(labels={}, namespace=MONITORING_NAMESPACE), pod[name],
                         svc.metrics_port, "TCP", "Prometheus"))
            must_not.append((ingress, pod[name], svc.metrics_port, "TCP", "the ingress controller"))
        if name == "reporting":
            must.append((ingress, pod[name], svc.http_port, "TCP", "the ingress controller"))
            must_not.append((Peer(labels={}, namespace={"kubernetes.io/metadata.name": "other"}),
                             pod[name], svc.http_port, "TCP", "another namespace"))
        else:
            must.append((pod["reporting"], pod[name], svc.grpc_port, "TCP", "the gateway"))
            must_not.append((ingress, pod[name], svc.grpc_port, "TCP", "the ingress controller"))
            for other in catalogue:
                if other not in ("reporting", name) and other in pod:
                    must_not.append((pod[other], pod[name], svc.grpc_port, "TCP", other))
    for src, dst, port, protocol, what in must:
        # PostgreSQL may be an ipBlock or a namespace: either counts.
        if what == "PostgreSQL":
            ok = allowed(r, src, dst, port) or any(
                allowed(r, src, Peer(labels={}, namespace=ns), port)
                for ns in postgres_namespaces(policies))
        else:
            ok = allowed(r, src, dst, port, protocol)
        if not ok:
            r.fail(f"NetworkPolicy: {src} cannot reach {what} ({dst}) on {protocol}/{port}")
    # What must be refused is refused by the destination's own ingress policy, whatever the
    # caller's egress allows: a service decides who calls it.
    for src, dst, port, protocol, what in must_not:
        if allowed(r, src, dst, port, protocol, sides=("Ingress",)):
            r.fail(f"NetworkPolicy: {what} ({src}) can reach {dst} on {protocol}/{port}")


def postgres_namespaces(policies: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    return [peer["namespaceSelector"].get("matchLabels", {})
            for p in policies.values() for rule in p["spec"].get("egress", [])
            if port_matches(rule, POSTGRES_PORT, "TCP") and rule.get("ports")
            for peer in rule.get("to", []) if "namespaceSelector" in peer]


# ---- the services' settings ---------------------------------------------------------------

def check_services(r: Render, catalogue: dict[str, Service], secrets: dict[str, set[str]],
                   documented: dict[str, set[str]], nats_replicas: int | None) -> None:
    deployments = r.of("Deployment")
    services = r.of("Service")
    for name in set(catalogue) ^ set(deployments):
        r.fail(f"Deployment {name}: {'missing' if name in catalogue else 'not a Pantau service'}")
    for name, d in deployments.items():
        svc = catalogue.get(name)
        if svc is None:
            continue
        (c,) = containers(d)
        image, _, _ = split_image(c["image"])
        if image != f"pantau/{name}" and not image.endswith(f"/pantau/{name}"):
            r.fail(f"Deployment {name}: image {c['image']} is not pantau/{name}")
        numbers, named = container_ports(d)
        listens = svc.ports | ({svc.metrics_port} if svc.metrics_port else set())
        if numbers != listens:
            r.fail(f"Deployment {name}: containerPorts {sorted(numbers)}, the service listens "
                   f"on {sorted(listens)}")
        if svc.metrics_port:
            if named.get("metrics") != svc.metrics_port:
                r.fail(f"Deployment {name}: no containerPort named metrics on {svc.metrics_port}")
            notes = d["spec"]["template"]["metadata"].get("annotations", {})
            scrape = {"prometheus.io/scrape": "true", "prometheus.io/port": str(svc.metrics_port),
                      "prometheus.io/path": "/metrics"}
            for key, value in scrape.items():
                if notes.get(key) != value:
                    r.fail(f"Deployment {name}: pod annotation {key} is not {value!r}")
        for probe_kind in ("readinessProbe", "livenessProbe"):
            if c.get(probe_kind, {}).get("grpc", {}).get("port") != svc.grpc_port:
                r.fail(f"Deployment {name}: {probe_kind} is not a gRPC probe on {svc.grpc_port}")
        env = env_of(c)
        for var in sorted(env):
            if not svc.reads(var):
                r.fail(f"Deployment {name}: sets {var}, which pantau-{name} does not read")
        expected = {svc.addr_var: f"0.0.0.0:{svc.grpc_port}"}
        if svc.http_addr_var:
            expected[svc.http_addr_var] = f"0.0.0.0:{svc.http_port}"
        if svc.metrics_addr_var:
            expected[svc.metrics_addr_var] = f"0.0.0.0:{svc.metrics_port}"
        for var, value in expected.items():
            if env.get(var, {}).get("value") != value:
                r.fail(f"Deployment {name}: {var} is not {value}")
        needed = {"PANTAU_NATS_URL", "PANTAU_DATABASE_URL"} | (
            {"PANTAU_FINGERPRINT_SECRET"} & svc.env)
        for var in sorted(needed - set(env)):
            r.fail(f"Deployment {name}: {var} is not set")
        for var, e in env.items():
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            # A Secret the render holds (dev generates one) or the one an operator creates
            # (secret.example.yaml lists its keys); an optional key must at least be listed.
            if ref and ref["key"] not in secrets.get(ref["name"], set()) and not (
                    ref.get("optional") and ref["key"] in documented.get(ref["name"], set())):
                r.fail(f"Deployment {name}: {var} reads key {ref['key']} of Secret "
                       f"{ref['name']}, which does not have it")
            if "valueFrom" in e and not ref:
                r.fail(f"Deployment {name}: {var} comes from something other than a Secret")
        for var, host_port in urls(env):
            host, port = host_port
            target = services.get(host)
            if target is None or port not in {p["port"] for p in target["spec"]["ports"]}:
                r.fail(f"Deployment {name}: {var} points at {host}:{port}, which no Service "
                       "offers")
            prefix = f"PANTAU_{name.upper()}_UPSTREAM_"
            if var.startswith(prefix):
                upstream = catalogue.get(var.removeprefix(prefix).lower())
                if upstream is None or (host, port) != (upstream.name, upstream.grpc_port):
                    r.fail(f"Deployment {name}: {var} is not the service it names")
        replicas = env.get("PANTAU_NATS_STREAM_REPLICAS", {}).get("value")
        if replicas is not None and nats_replicas is not None and int(replicas) > nats_replicas:
            r.fail(f"Deployment {name}: stream replicas {replicas} > {nats_replicas} NATS servers")


def secret_keys(secret: dict[str, Any]) -> set[str]:
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


def urls(env: dict[str, dict[str, Any]]) -> list[tuple[str, tuple[str, int]]]:
    out = []
    for var, e in env.items():
        value = e.get("value", "")
        if var.endswith("_URL") or "_UPSTREAM_" in var:
            url = urlsplit(value)
            if url.hostname and url.port:
                out.append((var, (url.hostname, url.port)))
    return out


# ---- hardening ----------------------------------------------------------------------------

def check_hardening(r: Render) -> None:
    for name, w in r.workloads().items():
        spec = w["spec"]["template"]["spec"]
        sc = spec.get("securityContext", {})
        if sc.get("runAsNonRoot") is not True or sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            r.fail(f"{name}: pod must set runAsNonRoot and the RuntimeDefault seccomp profile")
        if spec.get("automountServiceAccountToken") is not False:
            r.fail(f"{name}: mounts a service account token it does not use")
        for c in spec["containers"]:
            csc = c.get("securityContext", {})
            if (csc.get("allowPrivilegeEscalation") is not False
                    or csc.get("readOnlyRootFilesystem") is not True
                    or "ALL" not in csc.get("capabilities", {}).get("drop", [])):
                r.fail(f"{name}/{c['name']}: needs allowPrivilegeEscalation false, a read-only "
                       "root filesystem and all capabilities dropped")
            res = c.get("resources", {})
            for kind in ("cpu", "memory"):
                req, lim = res.get("requests", {}).get(kind), res.get("limits", {}).get(kind)
                if req is None or lim is None:
                    r.fail(f"{name}/{c['name']}: no {kind} request and limit")
                elif quantity(req) > quantity(lim):
                    r.fail(f"{name}/{c['name']}: {kind} request {req} above its limit {lim}")


# ---- NATS ---------------------------------------------------------------------------------

def check_nats(r: Render, nats_server: str | None) -> int | None:
    sts = r.of("StatefulSet").get("nats")
    if sts is None:
        r.fail("no StatefulSet nats")
        return None
    spec = sts["spec"]
    replicas = spec.get("replicas", 1)
    if replicas < 3 or replicas % 2 == 0:
        r.fail(f"StatefulSet nats: {replicas} replicas; a JetStream cluster wants an odd number ≥ 3")
    headless = r.of("Service").get(spec["serviceName"])
    if headless is None or headless["spec"].get("clusterIP") != "None" \
            or headless["spec"].get("publishNotReadyAddresses") is not True:
        r.fail(f"StatefulSet nats: serviceName {spec['serviceName']} is not a headless Service "
               "publishing not-ready pods")
    if not spec.get("volumeClaimTemplates"):
        r.fail("StatefulSet nats: no volumeClaimTemplates")
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    config_volume = next((v for v in pod.get("volumes", []) if "configMap" in v), None)
    config_map = r.of("ConfigMap").get(config_volume["configMap"]["name"]) if config_volume else None
    if config_map is None or "nats.conf" not in config_map.get("data", {}):
        r.fail("StatefulSet nats: its ConfigMap with nats.conf is missing")
        return replicas
    conf = config_map["data"]["nats.conf"]
    if f"--config {mounts.get(config_volume['name'])}/nats.conf" not in " ".join(c.get("command", [])):
        r.fail("StatefulSet nats: the server does not run with the mounted nats.conf")
    cluster = re.search(r"^cluster\s*\{(.*?)^\}", conf, re.M | re.S)
    routes = re.findall(r"nats://[\w.-]+:\d+", cluster.group(1)) if cluster else []
    want = [f"nats://{sts['metadata']['name']}-{i}.{spec['serviceName']}:{NATS_CLUSTER_PORT}"
            for i in range(replicas)]
    if routes != want:
        r.fail(f"nats.conf: routes {routes}, the StatefulSet has {want}")
    store = re.search(r"store_dir:\s*(\S+)", conf)
    data_mounts = {mounts.get(t["metadata"]["name"]) for t in spec.get("volumeClaimTemplates", [])}
    if not store or store.group(1) not in data_mounts:
        r.fail(f"nats.conf: store_dir is not the data volume's mount ({data_mounts})")
    if not re.search(r"^\s*sync_interval:\s*always\s*$", conf, re.M):
        r.fail("nats.conf: no `sync_interval: always` (acknowledged events must survive a power cut)")
    # The users and permissions are deploy/nats/auth.conf's, which the e2e test runs.
    shipped = AUTH_CONF.read_text()
    shipped = shipped[shipped.find("authorization {"):]
    if not shipped or " ".join(shipped.split()) not in " ".join(conf.split()):
        r.fail("nats.conf: its authorization block is not deploy/nats/auth.conf's")
    # The passwords nats.conf reads ($PANTAU_NATS_<USER>_PASSWORD) come from the StatefulSet's
    # environment; -t only needs them set.
    secret_env = {e["name"]: "validate-placeholder" for e in c.get("env", [])
                  if e.get("valueFrom", {}).get("secretKeyRef")}
    for var in sorted(set(re.findall(r"\$(PANTAU_[A-Z0-9_]+)", conf)) - set(secret_env)):
        r.fail(f"StatefulSet nats: nats.conf reads ${var}, which its environment does not set")
    if nats_server:
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write(conf)
            f.flush()
            env = dict(os.environ, POD_NAME=f"{sts['metadata']['name']}-0", **secret_env)
            done = subprocess.run([nats_server, "-c", f.name, "-t"], capture_output=True,
                                  text=True, env=env)
            if done.returncode != 0:
                r.fail(f"nats.conf: nats-server -t refuses it: {done.stderr.strip()}")
    return replicas


def nats_server_binary() -> str | None:
    return os.environ.get("PANTAU_NATS_SERVER_BIN") or shutil.which("nats-server")


def check(name: str, objects: list[dict[str, Any]], catalogue: dict[str, Service],
          documented: dict[str, set[str]], nats_server: str | None) -> list[str]:
    """`documented`: the Secrets an operator supplies, by name, with their keys. A Secret the
    render itself holds takes their place."""
    r = Render(name, objects)
    try:
        check_selectors_and_ports(r)
        check_companions(r)
        check_network(r, catalogue)
        check_hardening(r)
        nats_replicas = check_nats(r, nats_server)
        secrets = dict(documented) | {n: secret_keys(s) for n, s in r.of("Secret").items()}
        check_services(r, catalogue, secrets, documented, nats_replicas)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        r.fail(f"malformed object: {type(e).__name__}: {e}")
    return r.errors


def pending_notes(objects: list[dict[str, Any]], catalogue: dict[str, Service]) -> list[str]:
    notes = []
    for var, why in PENDING_ENV.items():
        unread = sorted(n for n, s in catalogue.items() if var not in s.env)
        used = any(var in env_of(c) for o in objects if o["kind"] == "Deployment"
                   for c in containers(o))
        if unread and used:
            notes.append(f"{var} is set but not read yet by {', '.join(unread)} ({why})")
    return notes
