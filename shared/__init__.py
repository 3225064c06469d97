"""Sangathan's common package: settings, logging, HTTP plumbing, event contracts, Kafka
helpers and the organisation registry. Code used by more than one service lives here once."""
