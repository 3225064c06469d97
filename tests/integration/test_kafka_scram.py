"""Kafka authentication and ACLs against a real broker: a one-node KRaft Kafka of this module's own
(own ports and folder) that takes only SCRAM-SHA-512 and denies what no ACL allows, given the
ACLs of the KafkaUsers that deploy/k8s/gen_kafka_users.py generates. The services' own clients,
configured only through the environment (shared/kafka/security.py), then do what their user may
and are refused the rest: otp publishes outcomes and consumes codes to send, but can neither read
nor write the notifier's urgent lane, and a wrong password gets no connection at all.
"""

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from shared import topics
from shared.kafka import security as kafka_security
from shared.kafka.producer import ConfirmedProducer, DeliveryError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "k8s"))
sys.path.insert(0, str(ROOT / "deploy" / "local"))
import gen_kafka_users  # noqa: E402
import stack  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None, reason="needs Java"),
]
ADMIN = ("admin", "admin-secret")
# The local platform's broker (deploy/local/stack.py), its client listener SCRAM-only, with ACLs.
CONFIG = (
    stack.KAFKA_CONFIG.replace("PLAINTEXT://", "SASL_PLAINTEXT://")
    .replace("PLAINTEXT:PLAINTEXT", "SASL_PLAINTEXT:SASL_PLAINTEXT")
    .replace("inter.broker.listener.name=PLAINTEXT", "inter.broker.listener.name=SASL_PLAINTEXT")
    + """\
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required \
username="admin" password="admin-secret";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
# ANONYMOUS: the node itself on its plain controller listener (loopback); clients only use SASL.
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
"""
)
OPERATIONS = {
    "Read": AclOperation.READ,
    "Write": AclOperation.WRITE,
    "Describe": AclOperation.DESCRIBE,
    "Create": AclOperation.CREATE,
    "DescribeConfigs": AclOperation.DESCRIBE_CONFIGS,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_config(port: int) -> dict:
    return {
        "bootstrap.servers": f"127.0.0.1:{port}",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": ADMIN[0],
        "sasl.password": ADMIN[1],
    }


def bindings(service: str) -> list[AclBinding]:
    """The generated KafkaUser's ACLs, as the User Operator would create them."""
    user = gen_kafka_users.kafka_user(service, gen_kafka_users.ACCESS[service])
    principal = f"User:{user['metadata']['name']}"
    return [
        AclBinding(
            ResourceType[acl["resource"]["type"].upper()],
            acl["resource"]["name"],
            ResourcePatternType.LITERAL
            if acl["resource"]["patternType"] == "literal"
            else ResourcePatternType.PREFIXED,
            principal,
            "*",
            OPERATIONS[operation],
            AclPermissionType.ALLOW,
        )
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
    ]


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    home = tmp_path_factory.mktemp("kafka-scram")
    port, controller = _free_port(), _free_port()
    config = home / "server.properties"
    config.write_text(CONFIG.format(port=port, controller=controller, data=home / "data"))
    passwords = {"sangathan-otp": uuid.uuid4().hex}
    scram = [f"--add-scram=SCRAM-SHA-512=[name={ADMIN[0]},password={ADMIN[1]}]"] + [
        f"--add-scram=SCRAM-SHA-512=[name={name},password={password}]"
        for name, password in passwords.items()
    ]
    subprocess.run(
        stack.java(stack.kafka_libs(), "kafka.tools.StorageTool")
        + ["format", "-t", stack.cluster_id(), "-c", str(config), *scram],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    log = (home / "kafka.log").open("w")
    process = subprocess.Popen(
        stack.java(stack.kafka_libs(), "kafka.Kafka", heap="512m") + [str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        admin = AdminClient(admin_config(port))
        deadline = time.monotonic() + 240
        while True:
            try:
                admin.list_topics(timeout=5)
                break
            except KafkaException:
                assert process.poll() is None and time.monotonic() < deadline, (
                    home / "kafka.log"
                ).read_text()[-3000:]
                time.sleep(1)
        wanted = [
            topics.OTP_REQUESTS,
            topics.OTP_RESULTS,
            topics.DELIVERY_TASKS_URGENT,
            topics.DEAD_LETTER,
        ]
        for future in admin.create_topics([NewTopic(t.name, 1, 1) for t in wanted]).values():
            future.result()
        for future in admin.create_acls(bindings("otp")).values():
            future.result()
        yield port, passwords
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


@pytest.fixture
def as_otp(broker, tmp_path, monkeypatch):
    """The environment the otp pod gets (SASL_PLAINTEXT, dev's listener) and nothing else."""
    port, passwords = broker
    (tmp_path / "password").write_text(passwords["sangathan-otp"])
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "sangathan-otp")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    kafka_security.security.cache_clear()
    yield f"127.0.0.1:{port}", tmp_path / "password"
    kafka_security.security.cache_clear()


def test_otp_publishes_outcomes_and_reads_codes_to_send_as_its_own_user(as_otp, broker):
    bootstrap, _ = as_otp
    with_admin = Producer(admin_config(broker[0]))
    with_admin.produce(topics.OTP_REQUESTS.name, b"a code to send")
    assert with_admin.flush(30) == 0
    producer = ConfirmedProducer(bootstrap)
    producer.produce(topics.OTP_RESULTS.name, b"booth", b"verified", [], ref="outcome")
    producer.flush(30)  # raises DeliveryError if the broker refused it
    producer.close()
    consumer = Consumer(
        kafka_security.client_config(
            bootstrap, {"group.id": "otp", "auto.offset.reset": "earliest"}
        )
    )
    consumer.subscribe([topics.OTP_REQUESTS.name])
    deadline, message = time.monotonic() + 60, None
    while message is None and time.monotonic() < deadline:
        message = consumer.poll(1)
        if message is not None and message.error():
            raise KafkaException(message.error())
    consumer.close()
    assert message is not None and message.value() == b"a code to send"


def test_otp_can_neither_write_nor_read_the_notifiers_urgent_lane(as_otp):
    bootstrap, _ = as_otp
    producer = ConfirmedProducer(bootstrap, {"message.timeout.ms": 15000})
    producer.produce(
        topics.DELIVERY_TASKS_URGENT.name, b"booth", b"a forged task", [], ref="forged"
    )
    with pytest.raises(DeliveryError) as refused:
        producer.flush(30)
    assert "authoriz" in str(refused.value).lower()
    consumer = Consumer(
        kafka_security.client_config(
            bootstrap, {"group.id": "otp", "auto.offset.reset": "earliest"}
        )
    )
    consumer.subscribe([topics.DELIVERY_TASKS_URGENT.name])
    errors, deadline = [], time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        message = consumer.poll(1)
        if message is not None:
            assert message.error() is not None, "read a record of the urgent lane"
            errors.append(message.error().code())
    consumer.close()
    assert errors == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_a_wrong_password_gets_no_connection(as_otp):
    bootstrap, password = as_otp
    password.write_text("not-the-password")
    admin = AdminClient(kafka_security.client_config(bootstrap))
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=10)
