"""The Kubernetes Redis's users and TLS against a real Redis: the ACL file the pod's init container
writes (run here from the rendered manifest, on the manifest's own users.acl), loaded by a
redis-server speaking TLS only, reached through the services' own client factory with the
production URL shape (rediss://user:password@host/0?ssl_ca_certs=...).

Each service's real adapters do their work as their own user, Lua and transactions included;
the notifier cannot read, reset or overwrite an OTP counter; a client without a user, or in the
clear, gets nothing. The server is this module's own (its own port and folder), not the platform's.
"""

import datetime
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appointments.adapters.limits import AppointmentLimits
from appointments.settings import AppointmentsSettings
from dashboard.adapters.sessions import SessionStore
from notifier.adapters.tally import Tally
from otp.adapters.store import RedisCodeStore
from otp.domain import Outcome
from otp.settings import OtpSettings
from shared.auth.tokens import ORGANISER, Principal
from shared.clients import redis_client
from shared.ratelimit import Throttled
from tests.integration.test_otp_store import new_record, send, try_code

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "k8s"))
import check  # noqa: E402
import rules  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="Debian's redis-server (make up installs it)"
    ),
]
NOW = 1_900_000_000.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _certificates(folder: Path) -> None:
    """A CA and a certificate for localhost signed by it, as cert-manager's CA issuer makes them."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _write_acl(folder: Path, passwords: dict[str, str]) -> Path:
    """Run the Redis pod's init container script on the manifest's users.acl."""
    objects = check.render(check.OVERLAYS / "prod")
    init = rules.of_kind(objects, "StatefulSet")["sangathan-redis"]["spec"]["template"]["spec"][
        "initContainers"
    ][0]
    config = next(
        c for n, c in rules.of_kind(objects, "ConfigMap").items() if n.startswith("sangathan-redis")
    )
    (folder / "users.acl.in").write_text(config["data"]["users.acl"])
    (folder / "passwords").mkdir()
    for user, password in passwords.items():
        (folder / "passwords" / user).write_text(password)
    env = dict(
        os.environ,
        ACL_TEMPLATE=str(folder / "users.acl.in"),
        ACL_PASSWORDS=str(folder / "passwords"),
        ACL_FILE=str(folder / "users.acl"),
    )
    subprocess.run([*init["command"], *init["args"]], env=env, check=True, timeout=30)
    return folder / "users.acl"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("redis-acl")
    passwords = {
        user: secrets.token_hex(24)
        for user in ("appointments", "otp", "notifier", "dashboard", "probe")
    }
    _certificates(folder)
    port = _free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            str(folder / "tls.crt"),
            "--tls-key-file",
            str(folder / "tls.key"),
            "--tls-ca-cert-file",
            str(folder / "ca.crt"),
            "--tls-auth-clients",
            "no",
            "--aclfile",
            str(_write_acl(folder, passwords)),
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start with the manifest's ACL file")
                time.sleep(0.05)
        yield port, passwords, folder / "ca.crt"
    finally:
        process.terminate()
        process.wait(timeout=10)


def as_user(server, user: str) -> redis.Redis:
    """The client a service builds (shared.clients.redis_client) from prod's REDIS_URL shape."""
    port, passwords, ca = server
    url = f"rediss://{user}:{passwords[user]}@localhost:{port}/0?ssl_ca_certs={ca}"
    return redis_client(OtpSettings(REDIS_URL=url))


def test_otp_issues_and_checks_codes_as_its_own_user(server):
    store = RedisCodeStore(
        as_user(server, "otp"), prefix=OtpSettings().redis_prefix, send_window_s=600
    )
    record = new_record(code="424242")
    assert send(store, record).issued  # WATCH/MULTI/EXEC
    calls, _, loaded = store.count_call_and_load("svc:appointments", record.request_id, NOW)
    assert calls == 1 and loaded == record
    assert (
        try_code(store, record, "424242").outcome == Outcome.VERIFIED
    )  # the compare-and-set: EVALSHA


def test_the_notifier_cannot_read_reset_or_overwrite_an_otp_counter(server):
    otp = RedisCodeStore(
        as_user(server, "otp"), prefix=OtpSettings().redis_prefix, send_window_s=600
    )
    caller = f"svc:appointments-{uuid.uuid4()}"
    otp.count_call(caller, NOW)
    otp.count_call(caller, NOW)
    counter = f"{OtpSettings().redis_prefix}calls:{caller}:{int(NOW // 60)}"
    notifier = as_user(server, "notifier")
    for command in (
        lambda: notifier.get(counter),
        lambda: notifier.delete(counter),
        lambda: notifier.set(counter, 0),
        lambda: notifier.expire(counter, 1),
        lambda: notifier.register_script("return redis.call('DEL', KEYS[1])")(keys=[counter]),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            command()
    assert otp.count_call(caller, NOW)[0] == 3, "the counter went on untouched"


def test_the_notifier_tallies_as_its_own_user(server):
    tally = Tally(as_user(server, "notifier"), prefix="notifier:")
    directive = str(uuid.uuid4())
    assert tally.status(
        directive_id=directive,
        recipient_id="r1",
        booth_id="IN-HP-D01-A01-M01-S01-B001",
        path={"state": "IN-HP", "district": "IN-HP-D01"},
        status="delivered",
        channel="sms",
        code=None,
    )
    assert tally.acknowledged(
        directive_id=directive,
        recipient_id="r1",
        booth_id="IN-HP-D01-A01-M01-S01-B001",
        path={"state": "IN-HP", "district": "IN-HP-D01"},
    )
    assert tally.seq(directive) >= 2


def test_appointments_spends_its_budgets_as_its_own_user(server):
    settings = AppointmentsSettings(SANGATHAN_ENV="development")
    limits = AppointmentLimits(as_user(server, "appointments"), settings)
    organiser = f"user-{uuid.uuid4()}"
    for _ in range(settings.verify_per_organiser_per_min):
        limits.verification(organiser, str(uuid.uuid4()))
    with pytest.raises(Throttled):
        limits.verification(organiser, str(uuid.uuid4()))
    limits.sent_to(organiser, "+919812345678")
    limits.may_send_to_new_numbers(organiser)


def test_the_dashboard_keeps_sessions_as_its_own_user_and_no_other_service_reads_them(server):
    sessions = SessionStore(as_user(server, "dashboard"))
    who = Principal(
        subject="user-1", kind=ORGANISER, unit="IN-HP", role="state_organiser", scopes=frozenset()
    )
    session = sessions.open(who, time.time() + 60, frozenset())
    assert sessions.find(session)[0].subject == "user-1"
    key = next(iter(as_user(server, "dashboard").scan_iter(match="dashboard:session:*")))
    with pytest.raises(redis.exceptions.NoPermissionError):
        as_user(server, "notifier").get(key)
    sessions.close(session)
    assert sessions.find(session) is None


def test_a_client_without_a_user_or_in_the_clear_gets_nothing(server):
    port, passwords, ca = server
    anonymous = redis.Redis.from_url(
        f"rediss://localhost:{port}/0?ssl_ca_certs={ca}", socket_timeout=2
    )
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    clear = redis.Redis.from_url(
        f"redis://otp:{passwords['otp']}@localhost:{port}/0", socket_timeout=2
    )
    with pytest.raises(redis.exceptions.ConnectionError):
        clear.ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(f"rediss://otp:wrong@localhost:{port}/0?ssl_ca_certs={ca}").ping()
