"""Production seals the phones and names in dead letters instead of masking them: every pod of a
service that dead-letters names the shared keyring (DEAD_LETTER_KEYS_FILE) and mounts it, and the
dev cluster's Secret holds a keyring the services accept."""

import sys
from pathlib import Path

from shared.kafka.deadletters import FIELDS, dead_letter_seal
from shared.settings import PlatformSettings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "k8s"))
import check  # noqa: E402
import dev_secrets  # noqa: E402

SECRET = "sangathan-dead-letter-keys"
# Every workload whose Kafka consumers or stream may dead-letter a record.
DEAD_LETTERING = {"appointments", "otp", "notifier", "notifier-workers", "analytics"}


def settings_of(container: dict, config_maps: dict[str, dict]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]].get("data", {}))
    env.update({v["name"]: v["value"] for v in container.get("env", []) if "value" in v})
    return env


def test_every_pod_that_dead_letters_mounts_the_keyring_its_settings_name():
    for overlay in check.overlays():
        rendered = check.render(overlay)
        config_maps = {o["metadata"]["name"]: o for o in rendered if o["kind"] == "ConfigMap"}
        workloads = {
            o["metadata"]["name"]: o for o in rendered if o["kind"] in ("Deployment", "StatefulSet")
        }
        assert DEAD_LETTERING <= set(workloads), overlay
        for name in DEAD_LETTERING:
            pod = workloads[name]["spec"]["template"]["spec"]
            container = next(c for c in pod["containers"] if c["name"] == name)
            path = Path(settings_of(container, config_maps).get("DEAD_LETTER_KEYS_FILE", ""))
            assert path.name, f"{name} ({overlay.name}) would mask dead letters: no keyring named"
            mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
            volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
            assert volume["secret"]["secretName"] == SECRET, name


def test_the_dev_keyring_seals_dead_letters_in_production(tmp_path):
    made = {o["metadata"]["name"]: o for o in dev_secrets.objects() if o["kind"] == "Secret"}
    keys = tmp_path / "keys"
    keys.write_text(made[SECRET]["stringData"]["keys"])
    production = PlatformSettings(SANGATHAN_ENV="production", DEAD_LETTER_KEYS_FILE=str(keys))
    seal = dead_letter_seal(production)
    value, done = seal(b'{"data": {"phone": "+919876543210", "booth_id": "IN-HP-D01"}}')
    assert b"+919876543210" not in value and b"IN-HP-D01" in value
    assert done == FIELDS, "sealed with the keyring, not masked"
