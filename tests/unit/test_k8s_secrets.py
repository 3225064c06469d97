"""Every Secret and ConfigMap the manifests use but do not define is named, with its keys, and
deploy/k8s/dev_secrets.py makes exactly those for a dev cluster, with real random values."""

import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from appointments.adapters.personal import personal_data
from appointments.domain import Person
from appointments.settings import AppointmentsSettings
from notifier.adapters.keys import checked as notifier_key_checked
from otp.settings import check_secret
from shared.auth import exchange, tokens
from shared.auth.issuer import ISSUER, SERVICE_CALLS
from shared.auth.keys import public_key_file
from simulator.adapters.keys import webhook_key as simulator_webhook_key
from simulator.settings import SimulatorSettings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "k8s"))
import check  # noqa: E402
import dev_secrets  # noqa: E402

PERSON = Person(name="Sunita Devi", phone="+919876543210", gender="female")


def made() -> dict[tuple[str, str], dict[str, str]]:
    return {
        (o["kind"], o["metadata"]["name"]): o.get("stringData") or o.get("data")
        for o in yaml.safe_load_all(
            yaml.dump_all(dev_secrets.objects(), Dumper=dev_secrets._Dumper)
        )
    }


def test_every_overlay_asks_for_the_same_secrets_by_name_and_key():
    wanted = [dev_secrets.referenced(check.render(overlay)) for overlay in check.overlays()]
    assert all(w == wanted[0] for w in wanted)
    assert all(keys for keys in wanted[0].values()), "every reference names the key it reads"


def test_dev_secrets_makes_exactly_what_the_dev_overlay_references():
    wanted = dev_secrets.referenced(check.render(check.OVERLAYS / "dev"))
    produced = made()
    assert set(produced) == set(wanted)
    for name, keys in wanted.items():
        assert set(produced[name]) == keys, name


def test_the_values_are_random_and_strong_enough_for_the_services_that_check_them():
    first, second = made(), made()
    hmac = first[("Secret", "sangathan-otp-hmac")]["secret"].encode()
    assert check_secret(hmac) == hmac
    passwords = [k for k in first if k[1].endswith("-password")]
    assert passwords and all(first[k]["password"] != second[k]["password"] for k in passwords)
    redis_users = first[("Secret", "sangathan-redis-users")]
    assert all(v.isalnum() and len(v) >= 32 for v in redis_users.values()), (
        "goes into REDIS_URL unescaped"
    )
    assert len(set(redis_users.values())) == len(redis_users), "one password per Redis user"
    assert all(
        redis_users[u] != second[("Secret", "sangathan-redis-users")][u] for u in redis_users
    )


def test_the_service_tokens_verify_against_the_public_key_the_pods_mount(tmp_path):
    produced = made()
    pem = tmp_path / "issuer-public.pem"
    pem.write_text(produced[("ConfigMap", "sangathan-issuer-public-key")]["issuer-public.pem"])
    for (kind, name), data in produced.items():
        if name.endswith("-service-token"):
            service = name.removeprefix("sangathan-").removesuffix("-service-token")
            for callee in SERVICE_CALLS[
                service
            ]:  # each verifies for the services it calls, and only those
                who = tokens.verify(
                    data["token"], public_key_file(pem).get(), issuer=ISSUER, audience=callee
                )
                assert (who.kind, who.subject) == (tokens.SERVICE, f"svc:{service}")
            with pytest.raises(tokens.InvalidTokenError):
                tokens.verify(
                    data["token"], public_key_file(pem).get(), issuer=ISSUER, audience="dashboard"
                )


def test_the_dev_overlay_trusts_the_issuer_that_signed_them_and_each_service_its_own_audience():
    platform = next(
        o
        for o in check.render(check.OVERLAYS / "dev")
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("sangathan-platform")
    )
    assert platform["data"]["AUTH_ISSUER"] == ISSUER and "AUTH_AUDIENCE" not in platform["data"]


def test_analytics_trusts_the_exchange_key_the_dashboard_signs_with(tmp_path):
    produced = made()
    private = tmp_path / "private.pem"
    private.write_text(produced[("Secret", "sangathan-dashboard-exchange-key")]["private.pem"])
    public = tmp_path / "dashboard-public.pem"
    public.write_text(
        produced[("ConfigMap", "sangathan-dashboard-public-key")]["dashboard-public.pem"]
    )
    who = tokens.Principal(subject="user-1", kind=tokens.ORGANISER, unit="IN-HP")
    token = exchange.Exchanger(private).narrowed(who, expires=time.time() + 60)
    read = tokens.verify(
        token, public_key_file(public).get(), issuer=exchange.ISSUER, audience="analytics"
    )
    assert (read.unit, read.scopes, read.actor) == ("IN-HP", exchange.SCOPES, exchange.ACTOR)


def test_the_notifier_keys_are_random_and_strong_enough_for_the_notifier_and_the_simulator(
    tmp_path,
):
    first, second = made(), made()
    keys = first[("Secret", "sangathan-notifier-keys")]
    assert keys["webhook-secret"] != keys["ack-secret"], "one key per purpose"
    for name, value in keys.items():
        assert notifier_key_checked(value.encode()) == value.encode()
        assert value != second[("Secret", "sangathan-notifier-keys")][name]
    simulator = SimulatorSettings(
        SANGATHAN_ENV="production", PROVIDER_WEBHOOK_SECRET=keys["webhook-secret"]
    )
    assert simulator_webhook_key(simulator) == keys["webhook-secret"].encode()
    api_keys = [made_[("Secret", "sangathan-provider")]["api-key"] for made_ in (first, second)]
    assert len(set(api_keys)) == 2 and len(api_keys[0]) >= 32


def test_the_dev_provider_url_is_the_dev_overlays_simulator_service():
    url = urlsplit(made()[("Secret", "sangathan-provider")]["url"])
    services = {
        o["metadata"]["name"]: o
        for o in check.render(check.OVERLAYS / "dev")
        if o["kind"] == "Service"
    }
    assert url.scheme == "http" and url.hostname in services
    assert url.port in [p["port"] for p in services[url.hostname]["spec"]["ports"]]
    prod = {
        o["metadata"]["name"]
        for o in check.render(check.OVERLAYS / "prod")
        if o["kind"] == "Service"
    }
    assert url.hostname not in prod, "production names its real provider in the Secret"


def test_the_dev_certificate_covers_exactly_the_dev_ingress_hosts_and_pairs_with_its_key():
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    produced = made()
    ingress = next(o for o in check.render(check.OVERLAYS / "dev") if o["kind"] == "Ingress")
    [tls] = ingress["spec"]["tls"]
    pair = produced[("Secret", tls["secretName"])]
    certificate = x509.load_pem_x509_certificate(pair["tls.crt"].encode())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert (
        sorted(names.get_values_for_type(x509.DNSName))
        == sorted(tls["hosts"])
        == sorted(dev_secrets.DEV_PUBLIC_HOSTS)
    )
    key = serialization.load_pem_private_key(pair["tls.key"].encode(), password=None)
    assert key.public_key().public_numbers() == certificate.public_key().public_numbers()
    now = datetime.now(timezone.utc)
    assert certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc
    assert [
        o["type"] for o in dev_secrets.objects() if o["metadata"]["name"] == tls["secretName"]
    ] == ["kubernetes.io/tls"]


def test_the_personal_data_keys_are_a_keyring_and_an_index_key_appointments_accepts(tmp_path):
    first, second = made(), made()
    keys = first[("Secret", "sangathan-appointments-personal-data")]
    assert keys != second[("Secret", "sangathan-appointments-personal-data")]
    (tmp_path / "field-keys").write_text(keys["field-keys"])
    (tmp_path / "phone-index-key").write_text(keys["phone-index-key"])
    settings = AppointmentsSettings(
        SANGATHAN_ENV="production",
        PERSONAL_DATA_KEYS_FILE=tmp_path / "field-keys",
        PHONE_INDEX_KEY_FILE=tmp_path / "phone-index-key",
    )
    personal = personal_data(settings)
    assert personal.cipher.current == "k1"
    assert personal.person(personal.person_doc(PERSON)) == PERSON
