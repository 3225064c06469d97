"""Dashboard sessions against the real Redis: a dashboard process signs an organiser in, keeps an
opaque session server-side (never their token), ends it with the token or at sign-out, and over
HTTPS names its cookie `__Host-`, Secure, for the whole host."""

import hashlib
import time
from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
import redis

from shared.auth.issuer import organiser_token
from testkit.processes import closed_port, start_service
from tests.integration.test_dashboard_live import Stream

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dashboards(tmp_path_factory):
    """Two dashboard processes on the platform's Redis and Kafka: plain HTTP, as the local platform
    serves it, and one told that browsers reach it over HTTPS (TLS ending in front of it)."""
    started = {}
    try:
        for name, env in (("http", {}), ("https", {"DASHBOARD_HTTPS": "true"})):
            started[name] = start_service("dashboard", env, tmp_path_factory.mktemp(name))
        yield {name: base for name, (_, base) in started.items()}
    finally:
        for process, _ in started.values():
            process.stop()


@pytest.fixture(scope="module")
def sessions(settings):
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    client.close()


def session_key(session_id: str) -> str:
    return "dashboard:session:" + hashlib.sha256(session_id.encode()).hexdigest()


def set_cookie(response: httpx.Response) -> SimpleCookie:
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


def test_signing_in_keeps_an_opaque_session_server_side_and_never_the_token(dashboards, sessions):
    token = organiser_token(sub="user-it-session", unit="IN-HP", audiences=["dashboard"])
    signed = httpx.post(f"{dashboards['http']}/api/session", json={"token": token})
    assert signed.status_code == 200, signed.text
    [(name, morsel)] = set_cookie(signed).items()
    session_id = morsel.value
    assert (
        name == "sangathan_session"
        and morsel["httponly"]
        and morsel["samesite"].lower() == "strict"
    )
    assert session_id != token and session_id not in token and token not in signed.text
    assert session_id.count(".") == 0, "not a JWT"
    stored = sessions.get(session_key(session_id))
    assert stored is not None and token.encode() not in stored
    assert b"coverage:read" in stored and b"appointments:write" not in stored, (
        "the session can only read"
    )
    assert sessions.get("dashboard:session:" + session_id) is None, "kept under a hash of the id"
    again = httpx.get(f"{dashboards['http']}/api/session", cookies={name: session_id})
    assert again.status_code == 200 and again.json()["unit"] == "IN-HP"


def test_a_session_lasts_no_longer_than_the_organisers_token(dashboards, sessions):
    token = organiser_token(sub="user-it-short", unit="IN-HP", ttl=timedelta(seconds=20))
    signed = httpx.post(f"{dashboards['http']}/api/session", json={"token": token})
    assert signed.status_code == 200, signed.text
    [(_, morsel)] = set_cookie(signed).items()
    assert 0 < int(morsel["max-age"]) <= 20
    assert 0 < sessions.pttl(session_key(morsel.value)) <= 20_000


def test_after_signing_out_the_session_is_dead_server_side_and_its_live_stream_ends(
    dashboards, sessions
):
    base = dashboards["http"]
    signed = httpx.post(
        f"{base}/api/session", json={"token": organiser_token(sub="user-it-out", unit="IN-HP")}
    )
    assert signed.status_code == 200, signed.text
    [(name, morsel)] = set_cookie(signed).items()
    copied = {name: morsel.value}  # as a thief who copied the cookie would keep it
    stream = Stream(f"{base}/api/live/IN-HP", httpx.Cookies(copied))
    try:
        assert stream.next(10) == ("ready", {"unit_id": "IN-HP"})
        out = httpx.delete(f"{base}/api/session", cookies=copied)
        assert out.status_code == 204 and 'sangathan_session=""' in out.headers["set-cookie"]
        assert sessions.exists(session_key(morsel.value)) == 0
        replayed = httpx.get(f"{base}/api/session", cookies=copied)
        assert replayed.status_code == 401 and replayed.json()["type"].endswith("/unauthenticated")
        assert httpx.get(f"{base}/api/coverage/IN-HP", cookies=copied).status_code == 401
        started = time.monotonic()
        event = stream.next(20)
        while event is not None and event[0] != "signed-out":
            event = stream.next(20)
        assert event == ("signed-out", {}), "the open stream of a closed session did not end"
        assert time.monotonic() - started < 20
    finally:
        stream.close()


def test_over_https_the_session_cookie_is_host_prefixed_secure_and_for_the_whole_host(dashboards):
    base = dashboards["https"]
    signed = httpx.post(
        f"{base}/api/session", json={"token": organiser_token(sub="user-it-tls", unit="IN-HP")}
    )
    assert signed.status_code == 200, signed.text
    header = signed.headers["set-cookie"]
    [(name, morsel)] = set_cookie(signed).items()
    assert name == "__Host-sangathan_session"
    assert (
        morsel["secure"]
        and morsel["path"] == "/"
        and not morsel["domain"]
        and "domain" not in header.lower()
    )
    assert morsel["httponly"] and morsel["samesite"].lower() == "strict"
    # What a browser sends back over HTTPS (TLS ends in front of the dashboard, as at the Ingress):
    back = httpx.get(f"{base}/api/session", headers={"Cookie": f"{name}={morsel.value}"})
    assert back.status_code == 200 and back.json()["unit"] == "IN-HP"
    unprefixed = httpx.get(
        f"{base}/api/session", headers={"Cookie": f"sangathan_session={morsel.value}"}
    )
    assert unprefixed.status_code == 401, (
        "a cookie without the prefix (settable by a subdomain) is not read"
    )
    out = httpx.delete(f"{base}/api/session", headers={"Cookie": f"{name}={morsel.value}"})
    assert out.status_code == 204 and "__Host-sangathan_session=" in out.headers["set-cookie"]
    assert "Secure" in out.headers["set-cookie"]


def test_with_redis_away_signing_in_and_sessions_answer_503_problems(tmp_path):
    process, base = start_service(
        "dashboard", {"REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}, tmp_path
    )
    try:
        token = organiser_token(sub="user-it-noredis", unit="IN-HP")
        signing_in = httpx.post(f"{base}/api/session", json={"token": token}, timeout=10)
        assert "set-cookie" not in signing_in.headers
        for answer in (
            signing_in,
            httpx.get(f"{base}/api/session", cookies={"sangathan_session": "x" * 43}, timeout=10),
        ):
            assert answer.status_code == 503, answer.text
            assert (
                answer.json()["type"].endswith("/dependency-unavailable")
                and "Retry-After" in answer.headers
            )
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 503 and "redis" in ready.text
    finally:
        process.stop()
