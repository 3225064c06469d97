"""The OTP service's only I/O: Redis (codes, limits, the local delivery sink) and Kafka."""
