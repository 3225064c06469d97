"""The rules of one-time codes, as pure functions: no Redis, no Kafka, no clock."""

from dataclasses import replace

import pytest

from otp import domain
from otp.domain import CodeRecord, Outcome, Policy, Refusal, State

KEY = b"k" * 32
NOW = 1_700_000_000.0
POLICY = Policy()
INDIAN = "+919876543210"


def record(
    code="123456", *, request_id="r-1", appointment_id="a-1", now=NOW, policy=POLICY
) -> CodeRecord:
    digest = domain.code_digest(
        KEY, request_id=request_id, appointment_id=appointment_id, code=code
    )
    return domain.issue(
        request_id=request_id,
        appointment_id=appointment_id,
        booth_id="IN-HP-B001",
        digest=digest,
        now=now,
        policy=policy,
    )


def attempt(stored, code, *, appointment_id="a-1", request_id="r-1", now=NOW + 1):
    digest = domain.code_digest(
        KEY, request_id=request_id, appointment_id=appointment_id, code=code
    )
    return domain.try_code(stored, appointment_id=appointment_id, digest=digest, now=now)


# --- codes and hashes ---------------------------------------------------------------------------


def test_a_code_has_the_asked_digits_and_keeps_leading_zeros():
    assert domain.new_code(6, lambda n: 42) == "000042"
    assert domain.new_code(8, lambda n: n - 1) == "99999999"


def test_codes_come_from_the_whole_range_of_the_random_source():
    asked = []
    domain.new_code(6, lambda n: asked.append(n) or 0)
    assert asked == [10**6]
    codes = {domain.new_code(6) for _ in range(200)}  # the default source is `secrets`
    assert len(codes) > 190 and all(len(c) == 6 and c.isdigit() for c in codes)


def test_a_digest_is_bound_to_its_key_request_and_appointment():
    base = dict(request_id="r-1", appointment_id="a-1", code="123456")
    digest = domain.code_digest(KEY, **base)
    assert digest == domain.code_digest(KEY, **base)
    assert digest != domain.code_digest(b"x" * 32, **base)
    assert digest != domain.code_digest(KEY, **{**base, "request_id": "r-2"})
    assert digest != domain.code_digest(KEY, **{**base, "appointment_id": "a-2"})
    assert "123456" not in digest and len(digest) == 64


def test_a_phone_key_never_shows_the_phone():
    key = domain.phone_key(KEY, INDIAN)
    assert key == domain.phone_key(KEY, INDIAN) != domain.phone_key(KEY, "+919876543211")
    assert "9876543210" not in key and key != domain.phone_key(b"x" * 32, INDIAN)


# --- sending --------------------------------------------------------------------------------------


def refuse(phone=INDIAN, sends=(), requested_at=NOW, now=NOW, policy=POLICY):
    return domain.refuse_send(
        phone=phone, requested_at=requested_at, sends=list(sends), now=now, policy=policy
    )


def test_only_allowed_country_prefixes_get_a_code():
    assert refuse() is None
    assert refuse("+447700900123") is Refusal.PREFIX
    assert (
        refuse("+8821234567890") is Refusal.PREFIX
    )  # satellite ranges, a favourite of SMS pumping
    assert refuse("+9779812345678", policy=Policy(allowed_prefixes=("+91", "+977"))) is None


def test_a_request_older_than_a_code_lives_gets_no_code():
    assert refuse(requested_at=NOW - POLICY.code_ttl_s) is None
    assert refuse(requested_at=NOW - POLICY.code_ttl_s - 1) is Refusal.STALE


def test_five_sends_per_phone_per_window_then_refused_until_the_oldest_leaves_the_window():
    sends = [NOW - 500 + 60 * i for i in range(5)]  # 5 sends in the last 10 minutes, a minute apart
    assert refuse(sends=sends[:4]) is None
    assert refuse(sends=sends) is Refusal.RATE_LIMIT
    assert refuse(sends=sends, now=NOW + 101) is None  # the first one is now older than 600 s


def test_a_second_code_within_the_cooldown_is_refused():
    assert refuse(sends=[NOW - 29]) is Refusal.COOLDOWN
    assert refuse(sends=[NOW - 30]) is None
    assert refuse(sends=[NOW - 5], policy=Policy(resend_cooldown_s=0)) is None


def test_the_message_is_hindi_for_hindi_and_english_otherwise_with_code_first():
    hindi = domain.message_text("004211", "hi-IN", 600)
    english = domain.message_text("004211", "en", 600)
    assert hindi.startswith("004211 ") and "10 मिनट" in hindi and "साझा न करें" in hindi
    assert (
        english
        == "004211 is your Sangathan verification code. It expires in 10 minutes. Do not share it."
    )
    assert domain.message_text("1", "ta", 90).endswith("It expires in 2 minutes. Do not share it.")


def test_a_masked_phone_keeps_the_country_and_last_two_digits():
    assert domain.mask_phone(INDIAN) == "+91********10"
    assert domain.mask_phone("+9779812345678", ("+91", "+977")) == "+977********78"


# --- verifying ------------------------------------------------------------------------------------


def test_the_right_code_for_the_right_appointment_verifies_once():
    first = attempt(record(), "123456")
    assert first.outcome is Outcome.VERIFIED and first.after.state is State.USED
    assert attempt(first.after, "123456").outcome is Outcome.REJECTED


def test_a_code_is_bound_to_its_appointment_and_a_wrong_appointment_spends_a_try():
    result = attempt(record(), "123456", appointment_id="a-2")
    assert result.outcome is Outcome.REJECTED
    assert (
        result.after.attempts_left == POLICY.max_attempts - 1 and result.after.state is State.LIVE
    )


def test_the_fifth_wrong_try_locks_the_code_and_the_right_one_is_then_refused():
    stored, outcomes = record(), []
    for wrong in ("000001", "000002", "000003", "000004", "000005"):
        result = attempt(stored, wrong)
        outcomes.append(result.outcome)
        stored = result.after
    assert outcomes == [Outcome.REJECTED] * 4 + [Outcome.LOCKED]
    assert stored.state is State.LOCKED and stored.attempts_left == 0
    after_lock = attempt(stored, "123456")
    assert after_lock.outcome is Outcome.REJECTED and not after_lock.changed


def test_a_code_expires_after_its_lifetime_and_says_so_once():
    stored = record()
    assert (
        attempt(stored, "123456", now=NOW + POLICY.code_ttl_s - 0.001).outcome is Outcome.VERIFIED
    )
    expired = attempt(stored, "123456", now=NOW + POLICY.code_ttl_s)
    assert expired.outcome is Outcome.EXPIRED and expired.after.state is State.EXPIRED
    assert (
        attempt(expired.after, "123456", now=NOW + POLICY.code_ttl_s + 1).outcome
        is Outcome.REJECTED
    )


def test_every_failure_looks_the_same_to_the_caller():
    used = attempt(record(), "123456").after
    locked = replace(record(), attempts_left=0, state=State.LOCKED)
    cases = {
        "unknown request": attempt(None, "123456"),
        "used": attempt(used, "123456"),
        "locked": attempt(locked, "123456"),
        "expired before": attempt(replace(record(), state=State.EXPIRED), "123456"),
        "wrong code": attempt(record(), "654321"),
        "wrong appointment": attempt(record(), "123456", appointment_id="a-9"),
    }
    assert {name: r.outcome for name, r in cases.items()} == {
        name: Outcome.REJECTED for name in cases
    }


def test_an_unknown_request_changes_nothing():
    result = attempt(None, "123456")
    assert result.before is None and result.after is None and not result.changed


def test_the_per_client_cap_allows_exactly_the_limit():
    assert not domain.over_limit(1200, 1200) and domain.over_limit(1201, 1200)


def test_policy_is_read_from_settings():
    from otp.settings import OtpSettings

    settings = OtpSettings(
        OTP_SEND_LIMIT=3, OTP_ALLOWED_PREFIXES="+91, +977", OTP_RESEND_COOLDOWN_S=0
    )
    policy = Policy.from_settings(settings)
    assert (policy.send_limit, policy.allowed_prefixes, policy.resend_cooldown_s) == (
        3,
        ("+91", "+977"),
        0,
    )


@pytest.mark.parametrize("prefixes", ["91", "+9a", "+"])
def test_a_malformed_country_prefix_is_refused(prefixes):
    from otp.settings import OtpSettings

    with pytest.raises(ValueError):
        OtpSettings(OTP_ALLOWED_PREFIXES=prefixes)


def test_a_delivery_is_tried_again_after_1_2_4_8_then_10_s_while_the_code_keeps_a_tenth_of_its_life():  # noqa: E501
    delays = [domain.delivery_retry_delay(n, now=0, expires_at=600, ttl_s=600) for n in range(1, 7)]
    assert delays == [1, 2, 4, 8, 10, 10]
    assert domain.delivery_retry_delay(1, now=538, expires_at=600, ttl_s=600) == 1
    assert domain.delivery_retry_delay(1, now=539, expires_at=600, ttl_s=600) is None, (
        "60 s left after the wait"
    )
