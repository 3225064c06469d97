"""Development keys: one random key per purpose, made once on disk for every local process.

Several processes of a machine (a service, a test's copy of it, a restart, the simulator and
the notifier) must agree on a key. So it is written to a private temporary file and hard-linked
into place, which fails if another process got there first; everyone then reads the file that
won. Outside development, keys come from settings (a secret or a mounted file), never from here.
"""

import os
import secrets
from pathlib import Path


def development_key(path: Path, nbytes: int = 32) -> bytes:
    """The key in `path` (mode 0600), created with a random value if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(nbytes))
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()
