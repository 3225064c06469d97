"""Kafka's TLS and SCRAM settings reach every client from the environment
(shared/kafka/security.py): librdkafka, aiokafka and Faust get the same protocol, user and CA; a
half-set configuration is refused at start-up; and no client in the code is built around it."""

import ast
import datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from notifier.settings import NotifierSettings
from shared.kafka import security as kafka_security
from shared.kafka.security import KafkaSecurity

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ca_file(tmp_path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cluster-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "ca.crt"
    path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def scram_over_tls(tmp_path, ca_file, monkeypatch) -> Path:
    password = tmp_path / "password"
    password.write_text("s3cret-from-strimzi\n")
    for name, value in {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "sangathan-notifier",
        "KAFKA_SASL_PASSWORD_FILE": str(password),
        "KAFKA_SSL_CA_FILE": str(ca_file),
    }.items():
        monkeypatch.setenv(name, value)
    kafka_security.security.cache_clear()
    yield password
    kafka_security.security.cache_clear()


def test_the_local_platform_stays_in_the_clear_by_default(monkeypatch):
    for name in (
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD_FILE",
        "KAFKA_SSL_CA_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    assert KafkaSecurity().librdkafka() == {"security.protocol": "PLAINTEXT"}
    assert KafkaSecurity().faust_credentials() is None


def test_every_librdkafka_client_gets_scram_over_tls_from_the_environment(scram_over_tls, ca_file):
    config = kafka_security.client_config("sangathan-kafka-bootstrap:9093", {"group.id": "otp"})
    assert config == {
        "bootstrap.servers": "sangathan-kafka-bootstrap:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "sangathan-notifier",
        "sasl.password": "s3cret-from-strimzi",
        "ssl.ca.location": str(ca_file),
        "group.id": "otp",
    }
    # librdkafka itself accepts them
    # (it checks every property and loads the CA when a client is made).
    Producer(kafka_security.client_config("127.0.0.1:1")).flush(0)
    AdminClient(kafka_security.client_config("127.0.0.1:1"))


def test_the_services_own_clients_start_with_scram_over_tls_and_their_own_settings(scram_over_tls):
    """Each client's settings go on top of the security ones (a lane's linger, otp's timeout)."""
    from notifier.adapters.lanes import TaskConsumer, TaskProducer
    from otp.adapters.events import ConfirmingPublisher
    from shared.kafka.consumer import EventConsumer
    from shared.kafka.producer import ConfirmedProducer

    ConfirmingPublisher("127.0.0.1:1", timeout_s=1.0).close()
    TaskProducer("127.0.0.1:1", lambda name: name).close()
    TaskConsumer("127.0.0.1:1", "lane", "notifier-urgent")
    EventConsumer("127.0.0.1:1", "otp", ["topic"], lambda event: None)
    ConfirmedProducer("127.0.0.1:1", {"linger.ms": 1}).close()
    assert (
        kafka_security.client_config("b:9093", {"linger.ms": 5, "security.protocol": "SASL_SSL"})[
            "linger.ms"
        ]
        == 5
    )


def test_a_rotated_password_reaches_the_next_client_without_a_restart(scram_over_tls):
    scram_over_tls.write_text("rotated")
    assert kafka_security.client_config("b:9093")["sasl.password"] == "rotated"


def test_faust_and_aiokafka_get_the_same_user_protocol_and_ca(scram_over_tls, ca_file):
    auth = credentials_to_aiokafka_auth(kafka_security.faust_credentials())
    assert (
        auth["security_protocol"],
        auth["sasl_mechanism"],
        auth["sasl_plain_username"],
        auth["sasl_plain_password"],
    ) == ("SASL_SSL", "SCRAM-SHA-512", "sangathan-notifier", "s3cret-from-strimzi")
    assert (
        auth["ssl_context"].verify_mode.name == "CERT_REQUIRED"
        and auth["ssl_context"].check_hostname
    )
    assert [c["subject"] for c in auth["ssl_context"].get_ca_certs()] == [
        ((("commonName", "cluster-ca"),),)
    ]
    direct = kafka_security.aiokafka_auth()
    assert {k: v for k, v in direct.items() if k != "ssl_context"} == {
        k: v for k, v in auth.items() if k != "ssl_context"
    }


@pytest.mark.parametrize(
    "environment",
    [
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},  # no user, no password
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_USERNAME": "sangathan-otp",
        },  # no password
        {"KAFKA_SSL_CA_FILE": "/ca.crt"},  # a CA for a clear-text connection
        {"KAFKA_SECURITY_PROTOCOL": "TLS"},
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_USERNAME": "u",
            "KAFKA_SASL_PASSWORD_FILE": "/p",
            "KAFKA_SASL_MECHANISM": "PLAIN",
        },
    ],
)
def test_a_service_refuses_to_start_with_half_a_kafka_security_setting(environment):
    with pytest.raises(ValidationError):
        NotifierSettings(SANGATHAN_ENV="development", **environment)


def _kafka_clients(path: Path):
    """(line, constructor, first argument) of every Producer/Consumer/AdminClient/AIOKafkaConsumer
    call."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id
            in ("Producer", "Consumer", "AdminClient", "AIOKafkaConsumer", "AIOKafkaProducer")
        ):
            yield node.lineno, node.func.id, node


def test_no_kafka_client_in_the_code_is_made_without_the_platforms_security():
    unguarded = []
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        for line, kind, call in _kafka_clients(path):
            source = ast.unparse(call)
            if "client_config(" not in source and "aiokafka_auth()" not in source:
                unguarded.append(f"{path.relative_to(ROOT)}:{line} {kind}")
    assert unguarded == []
    app = (ROOT / "services" / "analytics" / "analytics" / "app.py").read_text(encoding="utf-8")
    assert "broker_credentials=faust_credentials()" in app
