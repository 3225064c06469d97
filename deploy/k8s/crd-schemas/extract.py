"""Keep the part of a CustomResourceDefinition that validation needs: one version's schema.

    python deploy/k8s/crd-schemas/extract.py CRD.yaml [CRD.yaml ...]

For every served version of every CRD in the files, writes `<group>_<version>_<kind>.json`
beside this script: the `openAPIV3Schema` without descriptions (most of a CRD's bytes) and
without `status` (written by the operator, never by us). See README.md for where the CRD
files come from.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def without_descriptions(node):
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


def schemas(crd: dict):
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        schema = without_descriptions(version["schema"]["openAPIV3Schema"])
        schema.get("properties", {}).pop("status", None)
        yield f"{group}_{version['name']}_{kind}.json", schema


def main(paths: list[str]) -> None:
    for path in paths:
        for crd in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            for name, schema in schemas(crd):
                (HERE / name).write_text(
                    json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8"
                )
                print(f"wrote {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
