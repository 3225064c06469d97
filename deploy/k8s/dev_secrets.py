"""The Secrets and the issuer's public key a dev cluster needs, made here and printed as YAML.

    python deploy/k8s/dev_secrets.py | kubectl apply -n sangathan -f -

Random passwords for MongoDB's and Redis's users, random OTP, provider-webhook and
acknowledgement HMAC keys, the dead-letter keyring, the messaging provider's address (the dev
overlay's simulator) with a random API key, the local issuer's public key (python -m
shared.auth.issuer makes the pair once, under .state/auth) and a token per service signed by it,
so tokens minted locally work against the dev cluster, a fresh key pair for the dashboard's
token exchange, and a self-signed certificate for the dev overlay's public hosts (the Ingress's
TLS). Nothing is written to disk beyond the local issuer's keys; run it once per cluster, as
running it again rotates every password. Production creates the same names from its own vault,
and cert-manager the certificate (README.md).
"""

from __future__ import annotations

import datetime
import secrets
import sys
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from shared.auth.issuer import SERVICE_CALLS, service_token  # noqa: E402
from shared.auth.keys import ensure_local_keys  # noqa: E402

# The dev overlay's messaging provider: the simulator's Service (overlays/dev/provider-simulator).
DEV_PROVIDER_URL = "http://provider-simulator:8005"
# The dev overlay's public hosts (overlays/dev/ingress.yaml): its certificate names exactly these.
DEV_PUBLIC_HOSTS = ("sangathan.localtest.me", "links.sangathan.localtest.me")
CERTIFICATE_DAYS = 90
# The users of base/mongodb/mongodb.yaml and base/redis/users.acl (a test holds them equal).
MONGODB_USERS = ("appointments", "notifier", "meetings", "analytics", "reports", "orgtree")
REDIS_USERS = ("appointments", "otp", "notifier", "dashboard", "probe")
# The Secrets the MongoDB operator writes itself (connection strings, SCRAM credentials).
MADE_BY_OPERATOR_SUFFIXES = ("-scram",)


def secret(name: str, type_: str = "Opaque", **values: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": type_,
        "stringData": values,
    }


def self_signed(hosts: tuple[str, ...]) -> dict[str, str]:
    """tls.crt and tls.key for `hosts`: browsers ask once to trust it; phones never see dev."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return {
        "tls.crt": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "tls.key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    }


def exchange_key_pair() -> tuple[str, str]:
    """An Ed25519 pair as PEM text: the private key (PKCS#8) and its public half."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def objects() -> list[dict]:
    _, public_key = ensure_local_keys()
    made = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "sangathan-issuer-public-key"},
            "data": {"issuer-public.pem": public_key.read_text(encoding="utf-8")},
        }
    ]
    made += [
        secret(f"sangathan-{service}-service-token", token=service_token(service))
        for service in SERVICE_CALLS
    ]
    made += [
        secret(f"sangathan-mongodb-{user}-password", password=secrets.token_urlsafe(24))
        for user in MONGODB_USERS
    ]
    # Hex: safe inside REDIS_URL. A key per Redis ACL user (base/redis/users.acl).
    made.append(
        secret("sangathan-redis-users", **{user: secrets.token_hex(24) for user in REDIS_USERS})
    )
    # The dashboard's exchange key: a fresh pair; analytics reads the public half.
    private, public = exchange_key_pair()
    made.append(secret("sangathan-dashboard-exchange-key", **{"private.pem": private}))
    made.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "sangathan-dashboard-public-key"},
            "data": {"dashboard-public.pem": public},
        }
    )
    made.append(secret("sangathan-otp-hmac", secret=secrets.token_urlsafe(48)))
    # Appointments' personal data: a keyring of one key id (rotation adds a line), the phone index
    # key.
    made.append(
        secret(
            "sangathan-appointments-personal-data",
            **{
                "field-keys": f"k1:{secrets.token_urlsafe(48)}\n",
                "phone-index-key": secrets.token_urlsafe(48),
            },
        )
    )
    # The simulator signs its webhooks with the notifier's webhook key (it mounts that key only).
    made.append(
        secret(
            "sangathan-notifier-keys",
            **{
                "webhook-secret": secrets.token_urlsafe(48),
                "ack-secret": secrets.token_urlsafe(48),
                "optout-secret": f"v1:{secrets.token_urlsafe(48)}\n",
            },
        )
    )
    # The meetings' join-link key and the keyring sealing invitees' phones.
    made.append(
        secret(
            "sangathan-meetings-keys",
            **{
                "link-secret": secrets.token_urlsafe(48),
                "personal-data-keys": f"k1:{secrets.token_urlsafe(48)}\n",
            },
        )
    )
    # The reports' answer-link key and the keyring sealing booth WhatsApp groups' invite links.
    made.append(
        secret(
            "sangathan-reports-keys",
            **{
                "link-secret": secrets.token_urlsafe(48),
                "personal-data-keys": f"k1:{secrets.token_urlsafe(48)}\n",
            },
        )
    )
    # One dead-letter keyring for every service (shared/kafka/deadletters.py), like the above.
    made.append(secret("sangathan-dead-letter-keys", keys=f"k1:{secrets.token_urlsafe(48)}\n"))
    # The simulator takes any key; a real provider's key comes from its contract, in production.
    made.append(
        secret("sangathan-provider", url=DEV_PROVIDER_URL, **{"api-key": secrets.token_urlsafe(32)})
    )
    # The Ingress's certificate; in production cert-manager issues it from the prod overlay's
    # annotation.
    made.append(
        secret("sangathan-public-tls", "kubernetes.io/tls", **self_signed(DEV_PUBLIC_HOSTS))
    )
    return made


def referenced(rendered: list[dict]) -> dict[tuple[str, str], set[str]]:
    """(kind, name) -> keys, for every Secret and ConfigMap the rendered objects use but do not
    define, leaving out what the operators write (MongoDB's connection strings and SCRAM secrets,
    Strimzi's users and CA, cert-manager's certificates)."""
    defined = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    by_operator = {
        u["connectionStringSecretName"]
        for o in rendered
        if o["kind"] == "MongoDBCommunity"
        for u in o["spec"]["users"]
    }
    # Strimzi writes each KafkaUser's Secret and its cluster CA's; cert-manager each Certificate's.
    by_operator |= {o["metadata"]["name"] for o in rendered if o["kind"] == "KafkaUser"}
    by_operator |= {
        f"{o['metadata']['name']}-cluster-ca-cert" for o in rendered if o["kind"] == "Kafka"
    }
    by_operator |= {o["spec"]["secretName"] for o in rendered if o["kind"] == "Certificate"}
    config_maps = {o["metadata"]["name"]: o for o in rendered if o["kind"] == "ConfigMap"}
    wanted: dict[tuple[str, str], set[str]] = {}

    def want(kind: str, name: str, key: str | None) -> None:
        if (
            (kind, name) in defined
            or name in by_operator
            or name.endswith(MADE_BY_OPERATOR_SUFFIXES)
        ):
            return
        wanted.setdefault((kind, name), set()).update([key] if key else [])

    for o in rendered:
        if o["kind"] == "Ingress":
            for tls in o["spec"].get("tls", []):
                for key in ("tls.crt", "tls.key"):
                    want("Secret", tls["secretName"], key)
        if o["kind"] == "MongoDBCommunity":
            for user in o["spec"]["users"]:
                want(
                    "Secret",
                    user["passwordSecretRef"]["name"],
                    user["passwordSecretRef"].get("key", "password"),
                )
        if o["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = o["spec"]["template"]["spec"]
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                want("Secret", volume["secret"]["secretName"], None)
                for item in volume["secret"].get("items", []):
                    want("Secret", volume["secret"]["secretName"], item["key"])
            if "configMap" in volume:
                want("ConfigMap", volume["configMap"]["name"], None)
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"] + pod.get("initContainers", []):
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    want("Secret", ref["name"], ref["key"])
            # A *_FILE setting names a key inside a mounted Secret or ConfigMap.
            for path in _file_settings(container, config_maps):
                for mount in container.get("volumeMounts", []):
                    if path.startswith(mount["mountPath"] + "/"):
                        file, volume = path[len(mount["mountPath"]) + 1 :], volumes[mount["name"]]
                        source = volume.get("secret") or volume.get("configMap") or {}
                        # `items` may mount a key under another file name.
                        key = {i["path"]: i["key"] for i in source.get("items", [])}.get(file, file)
                        if "secret" in volume:
                            want("Secret", volume["secret"]["secretName"], key)
                        if "configMap" in volume:
                            want("ConfigMap", volume["configMap"]["name"], key)
    return wanted


def _file_settings(container: dict, config_maps: dict[str, dict]) -> list[str]:
    env = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]].get("data", {}))
    env.update({v["name"]: v["value"] for v in container.get("env", []) if "value" in v})
    return [value for name, value in env.items() if name.endswith("_FILE")]


class _Dumper(yaml.SafeDumper):
    """Multi-line values (the PEM key) as literal blocks, readable as they are."""


_Dumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    ),
)


def main() -> None:
    print(yaml.dump_all(objects(), Dumper=_Dumper, sort_keys=False), end="")


if __name__ == "__main__":
    main()
