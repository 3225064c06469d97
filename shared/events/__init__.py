"""Cross-service event contracts: one JSON Schema per event type and version, CloudEvents on Kafka.

    from shared.events import types
    from shared.events.contracts import new_event, to_kafka, from_kafka, validate

Nothing is re-exported here, so `shared.topics` can import `shared.events.types` without a cycle.
"""
