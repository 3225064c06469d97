"""Encryption of personal data at rest, shared by every service that keeps it."""
