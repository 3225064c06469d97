import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from analytics.settings import AnalyticsSettings
from appointments.settings import AppointmentsSettings
from dashboard.settings import DashboardSettings
from notifier.settings import NotifierSettings
from otp.settings import OtpSettings
from shared.auth import tokens
from shared.auth.http import Authenticator, require_jurisdiction
from shared.auth.keys import KeyFile, ensure_local_keys, token_file
from shared.problems import install_problem_handlers
from shared.settings import PlatformSettings

KEY = Ed25519PrivateKey.generate()
ISS, AUD = "test-issuer", "appointments"


def organiser(unit="IN-HP-D03", scopes=("appointments:write",), key=KEY, audience=AUD, **kw):
    return tokens.issue(
        key,
        issuer=ISS,
        audience=audience,
        subject="user-1",
        kind=tokens.ORGANISER,
        unit=unit,
        scopes=list(scopes),
        **kw,
    )


def check(token):
    return tokens.verify(token, KEY.public_key(), issuer=ISS, audience=AUD)


def test_an_organiser_acts_in_their_unit_and_below_only():
    who = check(organiser("IN-HP-D03"))
    assert who.may_act_in("IN-HP-D03") and who.may_act_in("IN-HP-D03-A01-M02-S03-B004")
    assert not who.may_act_in("IN-HP") and not who.may_act_in("IN-HP-D04")
    assert not who.may_act_in("IN-HP-D033"), "a sibling whose id shares a prefix is not below"


def test_a_service_acts_in_no_unit():
    svc = check(tokens.issue(KEY, issuer=ISS, audience=AUD, subject="svc:x", kind=tokens.SERVICE))
    assert not svc.may_act_in("IN")


@pytest.mark.parametrize(
    "token, why",
    [
        (organiser(key=Ed25519PrivateKey.generate()), "signature"),
        (organiser(ttl=timedelta(seconds=-5)), "expired"),
        ("not-a-jwt", "decode"),
    ],
)
def test_a_forged_expired_or_garbled_token_is_refused(token, why):
    with pytest.raises(tokens.InvalidTokenError):
        check(token)


def test_a_token_for_another_audience_is_refused():
    token = tokens.issue(
        KEY, issuer=ISS, audience="elsewhere", subject="u", kind=tokens.ORGANISER, unit="IN"
    )
    with pytest.raises(tokens.InvalidTokenError):
        check(token)


@pytest.fixture
def client(tmp_path):
    private, public = ensure_local_keys(tmp_path)
    from shared.auth.keys import private_key_file

    key = private_key_file(private).get()
    auth = Authenticator(AppointmentsSettings(AUTH_PUBLIC_KEY_FILE=str(public), AUTH_ISSUER=ISS))
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/units/{unit_id}/things")
    def act(unit_id: str, who=Depends(auth.organiser("appointments:write"))):
        require_jurisdiction(who, unit_id)
        return {"by": who.subject}

    return TestClient(app), key


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_http_without_a_token_is_401_with_a_bearer_challenge(client):
    http, _ = client
    response = http.post("/units/IN-HP-D03/things")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"].endswith("/unauthenticated")


def test_each_service_accepts_tokens_for_itself_by_default():
    settings = [
        AppointmentsSettings(),
        OtpSettings(),
        NotifierSettings(),
        AnalyticsSettings(),
        DashboardSettings(),
    ]
    assert [s.audience for s in settings] == [
        "appointments",
        "otp",
        "notifier",
        "analytics",
        "dashboard",
    ]
    assert (
        PlatformSettings(AUTH_AUDIENCE="https://api.example.org/x").audience
        == "https://api.example.org/x"
    )


def test_a_token_for_the_notifier_is_refused_by_appointments_with_a_401_problem(client):
    http, key = client
    response = http.post(
        "/units/IN-HP-D03/things", headers=bearer(organiser(key=key, audience="notifier"))
    )
    assert response.status_code == 401 and response.json()["type"].endswith("/unauthenticated")
    assert "audience" in response.json()["detail"]
    both = organiser(key=key, audience=["notifier", "appointments"])  # a client calling both
    assert http.post("/units/IN-HP-D03/things", headers=bearer(both)).status_code == 200


def test_http_outside_jurisdiction_is_403_naming_the_reason(client):
    http, key = client
    response = http.post("/units/IN-HP-D04/things", headers=bearer(organiser(key=key)))
    assert response.status_code == 403
    assert response.json()["type"].endswith("/outside-jurisdiction")


def test_http_without_the_scope_is_403(client):
    http, key = client
    response = http.post(
        "/units/IN-HP-D03/things", headers=bearer(organiser(key=key, scopes=["coverage:read"]))
    )
    assert response.status_code == 403 and response.json()["type"].endswith("/missing-scope")


def test_http_inside_jurisdiction_is_allowed(client):
    http, key = client
    response = http.post("/units/IN-HP-D03-A01/things", headers=bearer(organiser(key=key)))
    assert response.status_code == 200 and response.json() == {"by": "user-1"}


def test_a_remembered_token_is_refused_once_it_expires(client):
    http, key = client
    token = organiser(key=key, ttl=timedelta(seconds=1))
    assert http.post("/units/IN-HP-D03/things", headers=bearer(token)).status_code == 200
    time.sleep(1.1)
    response = http.post("/units/IN-HP-D03/things", headers=bearer(token))
    assert response.status_code == 401 and response.json()["type"].endswith("/unauthenticated")


def test_a_remembered_token_is_refused_once_the_issuer_key_changes(client, tmp_path):
    http, key = client
    token = organiser(key=key)
    assert http.post("/units/IN-HP-D03/things", headers=bearer(token)).status_code == 200
    (tmp_path / "issuer-private.pem").unlink()
    ensure_local_keys(tmp_path)  # a new pair: the public key file the authenticator reads changes
    time.sleep(KeyFile.RECHECK_S + 0.1)  # the file is looked at again once this has passed
    assert http.post("/units/IN-HP-D03/things", headers=bearer(token)).status_code == 401


def test_an_identity_providers_subject_is_recorded_as_an_id_the_events_accept():
    assert tokens.subject_id("user-4821") == "user-4821"
    odd = ["auth0|5f7c8ec7c33c6c004bbafe82", "asha@example.org", "x" * 200, "-leading-dash"]
    mapped = [tokens.subject_id(sub) for sub in odd]
    assert all(tokens.SUBJECT.fullmatch(m) for m in mapped)
    assert len(set(mapped)) == len(odd) and mapped == [tokens.subject_id(sub) for sub in odd], (
        "stable, distinct"
    )


def test_a_key_file_is_looked_at_again_once_its_recheck_time_has_passed(tmp_path):
    path = tmp_path / "service.jwt"
    path.write_text("token-1\n")
    token = token_file(path)
    token.recheck_s = 0.3
    assert token.get() == "token-1"
    path.write_text("token-2\n")
    path.unlink()  # gone: not even looked at until the time has passed
    assert token.get() == "token-1"
    time.sleep(0.35)
    with pytest.raises(OSError):
        token.get()
    path.write_text("token-3\n")
    assert token.get() == "token-3"  # a failed look is no look: the next call looks again
