"""The pinned kustomize: installed once from the Go module proxy into the state folder, then run.

    python deploy/k8s/kustomize.py build deploy/k8s/overlays/prod

Any arguments go to kustomize unchanged. The binary lands in `.state/bin/kustomize-<version>`
(or $SANGATHAN_STATE/bin): a new pin installs beside the old one instead of trusting it.
`kubectl kustomize` is not used, as kubectl is not on every machine and its kustomize lags.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("SANGATHAN_STATE", ROOT / ".state")).resolve()
VERSION = "v5.8.1"
MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
INSTALL_TIMEOUT_S = 600  # an empty module cache takes about 20 s here; a slow proxy gets room


def binary() -> Path:
    return STATE / "bin" / f"kustomize-{VERSION}"


def ensure() -> Path:
    """The kustomize binary, installed with `go install` on first use (idempotent)."""
    target = binary()
    if target.exists():
        return target
    if not shutil.which("go"):
        sys.exit("[kustomize] `go` is not installed; kustomize is built from the Go module proxy")
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"[kustomize] installing {MODULE}@{VERSION} (first run)", file=sys.stderr, flush=True)
    # Into a private folder first, so a second process never runs half a binary.
    with tempfile.TemporaryDirectory(dir=target.parent) as gobin:
        subprocess.run(
            ["go", "install", f"{MODULE}@{VERSION}"],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
            env=dict(os.environ, GOBIN=gobin, CGO_ENABLED="0"),
            stdout=subprocess.DEVNULL,
        )
        os.replace(Path(gobin) / "kustomize", target)
    return target


def build(path: Path) -> str:
    """`kustomize build PATH`: the rendered YAML stream."""
    result = subprocess.run(
        [str(ensure()), "build", str(path)], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"kustomize build {path} failed:\n{result.stderr}")
    return result.stdout


def main() -> int:
    return subprocess.call([str(ensure()), *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
