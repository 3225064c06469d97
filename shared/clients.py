"""Clients for the servers, configured once: short timeouts so a readiness probe or a request
fails fast instead of hanging on a server that is down."""

import redis
from pymongo import MongoClient

from shared.mongo_metrics import command_metrics
from shared.settings import PlatformSettings


def mongo_client(settings: PlatformSettings) -> MongoClient:
    timeout_ms = int(settings.dependency_timeout_s * 1000)
    # A socket timeout too: a server that stops answering mid-operation (hung, not gone) fails the
    # request (503) instead of holding it for ever.
    return MongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=int(settings.mongo_socket_timeout_s * 1000),
        event_listeners=[command_metrics],
    )


def redis_client(settings: PlatformSettings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.dependency_timeout_s,
        socket_connect_timeout=settings.dependency_timeout_s,
    )
