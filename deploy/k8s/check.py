"""Render every overlay and validate every object offline, as an API server would.

    python deploy/k8s/check.py            # exit 1 and say what is wrong, or one line per overlay
    python deploy/k8s/check.py --release  # also: prod runs our own image by digest
                                          # (the release pipeline)

Kubernetes' own kinds are checked against the schemas the kubernetes-validate package bundles,
strictly (an unknown field is an error, as `kubectl apply --validate=strict` makes it), for the
oldest and the newest Kubernetes version we support. The operators' kinds (Strimzi, the MongoDB
operator, Prometheus Operator) are checked against their own CRDs' schemas, kept in
crd-schemas/ (see its README), made just as strict. Then the rules of rules.py: what the
manifests promise about users, ACLs, egress, TLS and images, read against the code.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import kustomize  # noqa: E402
import rules  # noqa: E402

OVERLAYS = HERE / "overlays"
CRD_SCHEMAS = HERE / "crd-schemas"
# The oldest version still in upstream support when this was written, and the newest bundled.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def overlays() -> list[Path]:
    return sorted(p for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").exists())


def render(overlay: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(kustomize.build(overlay)) if doc]


def name_of(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def _strict(schema):
    """A CRD schema that refuses unknown fields, as the API server's strict field validation
    does."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema["additionalProperties"] = False
    return schema


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Validator | None:
    group, _, version = api_version.rpartition("/")
    path = CRD_SCHEMAS / f"{group}_{version}_{kind}.json"
    if not path.exists():
        return None
    schema = _strict(json.loads(path.read_text(encoding="utf-8")))
    # metadata is ObjectMeta, checked on its own below; the CRD schema only says "object".
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft202012Validator(copy.deepcopy(schema))


def _metadata_errors(obj: dict) -> list[str]:
    metadata = obj.get("metadata") or {}
    errors = []
    if (
        not DNS_SUBDOMAIN.match(str(metadata.get("name", "")))
        or len(metadata.get("name", "")) > 253
    ):
        errors.append(f"metadata.name {metadata.get('name')!r} is not a DNS subdomain")
    for field in ("labels", "annotations"):
        for key, value in (metadata.get(field) or {}).items():
            if not isinstance(value, str):
                errors.append(f"metadata.{field}.{key} must be a string, not {value!r}")
    return errors


def errors(obj: dict) -> list[str]:
    """What is wrong with one rendered object; empty when it would be accepted."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    validator = crd_validator(api_version, kind)
    if validator is not None:
        found = [
            f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(obj)
        ]
        return found + _metadata_errors(obj)
    found = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return [
                f"no schema for {api_version} {kind}: neither Kubernetes' own nor in crd-schemas/"
            ]
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(map(str, exc.absolute_path)) or "(root)"
            found.append(f"Kubernetes {version}: {path}: {exc.message}")
    return found


def rule_problems(objects: list[dict], overlay: str, release: bool = False) -> list[str]:
    """What the manifests promise beyond their schemas (rules.py), for this overlay; `release`:
    the release pipeline's run, after it pinned our own image by digest (README, "Releasing")."""
    import dev_secrets

    provider = dev_secrets.DEV_PROVIDER_URL if overlay == "dev" else None
    problems = (
        rules.mongodb_problems(objects)
        + rules.redis_problems(objects)
        + rules.env_order_problems(objects)
        + rules.egress_problems(objects, provider)
        + rules.kafka_problems(objects)
        + rules.kafka_code_problems()
        + rules.image_problems(objects, release and overlay == "prod")
    )
    return problems + (rules.tls_problems(objects) if overlay == "prod" else [])


def check(overlay: Path, release: bool = False) -> tuple[list[dict], list[str]]:
    objects = render(overlay)
    problems = [f"{name_of(o)}: {e}" for o in objects for e in errors(o)]
    problems += rule_problems(objects, overlay.name, release)
    return objects, [f"{overlay.name}: {p}" for p in problems]


def main(argv: list[str]) -> int:
    release = "--release" in argv
    failed = False
    for overlay in overlays():
        objects, problems = check(overlay, release)
        for problem in problems:
            print(problem)
        failed |= bool(problems)
        print(f"{overlay.name}: {len(objects)} objects, {'INVALID' if problems else 'all valid'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
