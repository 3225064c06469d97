"""The Strimzi KafkaTopics agree with the topic registry (shared/topics.py), in every overlay."""

import sys
from pathlib import Path

import pytest

from shared.topics import TOPICS

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
sys.path.insert(0, str(K8S))
import check  # noqa: E402
import gen_topics  # noqa: E402

REGISTRY = {t.name: t for t in TOPICS}


def kafka_topics(overlay: Path) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in check.render(overlay) if o["kind"] == "KafkaTopic"}


def test_the_committed_topics_file_is_what_the_generator_writes():
    assert gen_topics.TARGET.read_text(encoding="utf-8") == gen_topics.render(), (
        "regenerate: .venv/bin/python deploy/k8s/gen_topics.py"
    )


@pytest.mark.parametrize("overlay", check.overlays(), ids=lambda p: p.name)
def test_every_overlay_has_exactly_the_registry_topics_with_their_partitions_and_retention(overlay):
    topics = kafka_topics(overlay)
    assert set(topics) == set(REGISTRY)
    for name, resource in topics.items():
        topic, spec = REGISTRY[name], resource["spec"]
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == gen_topics.CLUSTER
        assert spec["partitions"] == topic.partitions, name
        expected = topic.config(spec["replicas"])
        assert spec["config"] == expected, name


def test_production_keeps_three_copies_and_needs_two_in_sync():
    for name, resource in kafka_topics(check.OVERLAYS / "prod").items():
        assert resource["spec"]["replicas"] == 3, name
        assert resource["spec"]["config"]["min.insync.replicas"] == "2", name


def test_dev_fits_its_single_broker():
    nodes = [o for o in check.render(check.OVERLAYS / "dev") if o["kind"] == "KafkaNodePool"]
    brokers = sum(p["spec"]["replicas"] for p in nodes if "broker" in p["spec"]["roles"])
    for name, resource in kafka_topics(check.OVERLAYS / "dev").items():
        assert resource["spec"]["replicas"] <= brokers, name
        assert (
            int(resource["spec"]["config"]["min.insync.replicas"]) <= resource["spec"]["replicas"]
        ), name


def test_the_kafka_cluster_the_topics_name_exists_and_is_kraft_with_three_brokers_in_prod():
    objects = check.render(check.OVERLAYS / "prod")
    clusters = [o for o in objects if o["kind"] == "Kafka"]
    assert [c["metadata"]["name"] for c in clusters] == [gen_topics.CLUSTER]
    pools = [o for o in objects if o["kind"] == "KafkaNodePool"]
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == gen_topics.CLUSTER for p in pools)
    assert sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"]) == 3
    assert sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"]) == 3
    assert clusters[0]["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False


@pytest.mark.parametrize("overlay", check.overlays(), ids=lambda p: p.name)
def test_every_topic_creator_uses_the_replication_the_overlay_gives_its_topics(overlay):
    """The registry's topics, shared.topics.ensure_topics and Faust's own topics: one factor."""
    objects = check.render(overlay)
    replicas = {t["spec"]["replicas"] for t in objects if t["kind"] == "KafkaTopic"}
    config = {
        o["metadata"]["name"].rsplit("-", 1)[0]: o.get("data", {})
        for o in objects
        if o["kind"] == "ConfigMap"
    }
    assert replicas == {int(config["sangathan-platform"]["KAFKA_REPLICATION_FACTOR"])}
    assert replicas == {int(config["analytics"]["TOPIC_REPLICATION_FACTOR"])}
    kafka = next(o for o in objects if o["kind"] == "Kafka")["spec"]["kafka"]["config"]
    assert replicas == {
        kafka["default.replication.factor"],
        kafka["offsets.topic.replication.factor"],
    }
