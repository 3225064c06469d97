"""What the OTP service counts (shown on /metrics)."""

from prometheus_client import Counter

CODES_SENT = Counter("sangathan_otp_codes_sent", "Codes handed to a delivery channel", ["channel"])
SENDS_REJECTED = Counter(
    "sangathan_otp_sends_rejected",
    "Requests that got no code, by reason (prefix, stale, rate_limit, cooldown, undeliverable)",
    ["reason"],
)
VERIFICATIONS = Counter(
    "sangathan_otp_verifications",
    "Verification calls, by outcome (verified, rejected, locked, expired, throttled, unavailable)",
    ["outcome"],
)
DELIVERY_RETRIES = Counter(
    "sangathan_otp_delivery_retries", "Deliveries tried again after a transient failure"
)
LOCKS = Counter("sangathan_otp_locks", "Codes killed by too many wrong tries")
