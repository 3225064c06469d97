"""Kafka helpers shared by every service: confirmed publishing, validated consuming with a
dead-letter topic."""
