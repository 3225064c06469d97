"""OTP: issues and verifies one-time codes for appointees' phones, with state in Redis."""
