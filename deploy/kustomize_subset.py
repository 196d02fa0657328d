"""The part of kustomize that k8s/ uses, in Python, so `make test` can render the overlays on a
machine with no kustomize binary (none is installable from the package registries we use).

Supported, matching kustomize v5: `resources` (files and directories holding a
kustomization), `namespace`, `patches` given by `path` (strategic-merge patches, found by kind
and name), `images` (newName, newTag, digest) and `secretGenerator` from `literals` with
`disableNameSuffixHash`. Anything else raises Unsupported rather than rendering something
kustomize would not: when k8s/ starts using a new feature, this file has to learn it first.
Where kubectl (which embeds kustomize) is installed, validate.py renders with it too and
requires the same objects, which keeps this file honest.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml


class Unsupported(Exception):
    """k8s/ uses something this renderer does not implement."""


KUSTOMIZATION_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "patches",
    "images",
    "secretGenerator",
}

# Kinds whose namespace handling and name references this renderer gets right. Another kind
# (a RoleBinding, say, whose subjects kustomize also re-namespaces) must be taught first.
NAMESPACED_KINDS = {
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Secret",
    "Service",
    "StatefulSet",
}
CLUSTER_KINDS = {"Namespace"}

# Strategic merge: lists merged by their key fields (the OpenAPI list-map keys, which is what
# kustomize's kyaml goes by), and lists that a patch replaces whole. A list of objects in
# neither table is refused, not guessed at.
MERGE_KEYS = {
    "containers": ("name",),
    "initContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
}
ATOMIC_LISTS = {
    "args",
    "command",
    "accessModes",
    "policyTypes",
    "ingress",
    "egress",
    "metrics",
    "volumeClaimTemplates",
    "drop",
    "add",
    "tolerations",
    "envFrom",
}
# `ports` merges by containerPort and protocol in a container, by port and protocol in a
# Service.
PORT_KEYS = {"container": ("containerPort", "protocol"), "Service": ("port", "protocol")}


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def kind_name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects `kustomize build directory` would print (in no particular order)."""
    directory = directory.resolve()
    kfile = directory / "kustomization.yaml"
    if not kfile.is_file():
        raise Unsupported(f"{directory}: no kustomization.yaml")
    k = yaml.safe_load(kfile.read_text()) or {}
    extra = set(k) - KUSTOMIZATION_KEYS
    if extra:
        raise Unsupported(f"{kfile}: fields {sorted(extra)} are not implemented")

    objects: list[dict[str, Any]] = []
    for entry in k.get("resources", []):
        if "://" in entry:
            raise Unsupported(f"{kfile}: remote resource {entry}")
        target = directory / entry
        if target.is_dir():
            objects.extend(render(target))
        elif target.is_file():
            objects.extend(load_yaml_docs(target))
        else:
            raise Unsupported(f"{kfile}: resource {entry} does not exist")
    objects.extend(generate_secrets(kfile, k.get("secretGenerator", [])))

    for obj in objects:
        kind = obj.get("kind")
        if kind not in NAMESPACED_KINDS | CLUSTER_KINDS:
            raise Unsupported(f"{kind_name(obj)}: kind {kind} is not implemented")
    seen: set[str] = set()
    for obj in objects:
        if kind_name(obj) in seen:
            raise Unsupported(f"{kfile}: {kind_name(obj)} is defined twice")
        seen.add(kind_name(obj))

    # kustomize's order: patches, then the namespace, then images.
    for patch in k.get("patches", []):
        apply_patch_file(kfile, directory, patch, objects)
    if "namespace" in k:
        set_namespace(kfile, k["namespace"], objects)
    for image in k.get("images", []):
        set_image(kfile, image, objects)
    return objects


def generate_secrets(kfile: Path, generators: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for g in generators:
        extra = set(g) - {"name", "literals", "options", "type"}
        options = g.get("options", {})
        if extra or set(options) - {"disableNameSuffixHash"}:
            raise Unsupported(f"{kfile}: secretGenerator {g.get('name')}: {sorted(extra)}")
        # A hashed name needs every reference rewritten, which this renderer does not do.
        if options.get("disableNameSuffixHash") is not True:
            raise Unsupported(f"{kfile}: secretGenerator {g['name']} needs disableNameSuffixHash")
        data = {}
        for literal in g.get("literals", []):
            key, sep, value = literal.partition("=")
            if not sep:
                raise Unsupported(f"{kfile}: secretGenerator literal {literal!r} has no '='")
            data[key] = base64.b64encode(value.encode()).decode()
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": g["name"]},
                "type": g.get("type", "Opaque"),
                "data": data,
            }
        )
    return out


def apply_patch_file(
    kfile: Path, directory: Path, patch: dict[str, Any], objects: list[dict[str, Any]]
) -> None:
    if set(patch) != {"path"}:
        raise Unsupported(f"{kfile}: patch {patch}: only `path` (strategic merge) is implemented")
    for doc in load_yaml_docs(directory / patch["path"]):
        if not isinstance(doc, dict) or "kind" not in doc:
            raise Unsupported(f"{kfile}: {patch['path']}: JSON 6902 patches are not implemented")
        matches = [
            o
            for o in objects
            if o.get("kind") == doc["kind"]
            and o["metadata"]["name"] == doc["metadata"]["name"]
        ]
        if len(matches) != 1:
            raise Unsupported(
                f"{kfile}: {patch['path']}: {kind_name(doc)} matches {len(matches)} objects"
            )
        target = matches[0]
        if doc.get("apiVersion") != target.get("apiVersion"):
            raise Unsupported(f"{patch['path']}: {kind_name(doc)}: apiVersion differs")
        merged = merge(target, doc, path=doc["kind"], owner=doc["kind"])
        target.clear()
        target.update(merged)


def merge(base: Any, patch: Any, path: str, owner: str) -> Any:
    """Strategic merge of `patch` into `base`, as kustomize (kyaml) does it."""
    if isinstance(patch, dict):
        if any(str(key).startswith("$") for key in patch):
            raise Unsupported(f"{path}: patch directives ($patch, ...) are not implemented")
        if not isinstance(base, dict):
            return copy.deepcopy(patch)
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                child_owner = "container" if key in ("containers", "initContainers") else owner
                out[key] = merge(out[key], value, f"{path}.{key}", child_owner)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(patch, list):
        field = path.rsplit(".", 1)[-1]
        if not (isinstance(base, list) and patch and isinstance(patch[0], dict)):
            return copy.deepcopy(patch)
        if field == "ports":
            key = PORT_KEYS.get(owner)
            if key is None:
                raise Unsupported(f"{path}: no merge key for ports here")
        elif field in MERGE_KEYS:
            key = MERGE_KEYS[field]
        elif field in ATOMIC_LISTS:
            return copy.deepcopy(patch)
        else:
            raise Unsupported(f"{path}: list of objects with no known merge strategy")
        def key_of(item: dict[str, Any]) -> tuple[Any, ...]:
            # A key field left to its default (a port's protocol) would need kyaml's defaulting
            # rules, which are not implemented.
            if any(field_name not in item for field_name in key):
                raise Unsupported(f"{path}: an item lacks a key field of {key}: {item}")
            return tuple(item[field_name] for field_name in key)

        # kustomize puts the patch's items first (merged with the base's item of the same
        # key), then the base's other items in their order.
        by_key = {key_of(item): item for item in base}
        out = [
            merge(by_key[key_of(item)], item, path, owner) if key_of(item) in by_key
            else copy.deepcopy(item)
            for item in patch
        ]
        patched = {key_of(item) for item in patch}
        out.extend(copy.deepcopy(item) for item in base if key_of(item) not in patched)
        return out
    return copy.deepcopy(patch)


def set_namespace(kfile: Path, namespace: str, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] == "Namespace":
            if obj["metadata"]["name"] != namespace:
                # kustomize renames such a Namespace; not implemented.
                raise Unsupported(f"{kfile}: Namespace {obj['metadata']['name']} != {namespace}")
        else:
            obj["metadata"]["namespace"] = namespace


def split_image(image: str) -> tuple[str, str | None, str | None]:
    name, _, digest = image.partition("@")
    tag = None
    # A colon after the last slash is a tag; one before it is a registry port.
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest or None


def set_image(kfile: Path, image: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    extra = set(image) - {"name", "newName", "newTag", "digest"}
    if extra:
        raise Unsupported(f"{kfile}: images entry {image['name']}: {sorted(extra)}")
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, tag, digest = split_image(container["image"])
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            if "digest" in image:
                tag, digest = None, image["digest"]
            elif "newTag" in image:
                tag, digest = str(image["newTag"]), None
            container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
