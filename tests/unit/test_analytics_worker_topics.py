"""The worker bounds its compacted topics' segments at start, and starts all the same where the
cluster does not let it (a principal without AlterConfigs)."""

from concurrent.futures import Future

import pytest
from confluent_kafka import KafkaError, KafkaException

from analytics.adapters.topics import WorkerTopic, _compact_sooner


class Admin:
    def __init__(self, error: int | None):
        self.error, self.asked = error, []

    def incremental_alter_configs(self, resources):
        answers = {}
        for resource in resources:
            self.asked.append(resource.name)
            future = Future()
            if self.error is None:
                future.set_result(None)
            else:
                future.set_exception(KafkaException(KafkaError(self.error)))
            answers[resource] = future
        return answers


def test_a_worker_not_allowed_to_alter_its_topics_starts_all_the_same():
    admin = Admin(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    _compact_sooner(admin, [WorkerTopic("w-partials", 12)])
    assert admin.asked == ["w-partials"]


def test_any_other_refusal_is_raised_for_the_start_to_try_again():
    with pytest.raises(KafkaException):
        _compact_sooner(Admin(KafkaError.REQUEST_TIMED_OUT), [WorkerTopic("w-partials", 12)])
