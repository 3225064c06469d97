"""Strimzi `KafkaTopic` resources generated from the topic registry, `shared/topics.py`.

    python deploy/k8s/gen_topics.py     # rewrites deploy/k8s/base/kafka/topics.yaml

The registry stays the one source of truth: partitions, retention and clean-up come from it,
and tests/unit/test_k8s_topics.py fails if the committed file is not what this writes.
Production replicates every topic three times with two in-sync replicas required; the dev
overlay patches replicas down for its single broker.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from shared.topics import TOPICS, Topic  # noqa: E402

TARGET = Path(__file__).resolve().parent / "base" / "kafka" / "topics.yaml"
CLUSTER = "sangathan"  # the Strimzi `Kafka` resource in base/kafka/kafka.yaml
REPLICAS = 3
HEADER = "# Generated from shared/topics.py by deploy/k8s/gen_topics.py; do not edit by hand.\n"


def kafka_topic(topic: Topic, replicas: int = REPLICAS) -> dict:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        # Registry names (lower case, dots) are valid resource names, so the topic needs no
        # topicName.
        "metadata": {
            "name": topic.name,
            "labels": {"strimzi.io/cluster": CLUSTER},
            "annotations": {
                "sangathan.io/key": topic.key_field or "none",
                "sangathan.io/description": topic.description,
            },
        },
        "spec": {
            "partitions": topic.partitions,
            "replicas": replicas,
            "config": topic.config(replicas),
        },
    }


def render() -> str:
    documents = [yaml.safe_dump(kafka_topic(t), sort_keys=False, width=200) for t in TOPICS]
    return HEADER + "---\n".join(documents)


def main() -> None:
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {len(TOPICS)} topics to {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
