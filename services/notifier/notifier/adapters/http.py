"""Provider calls over kept-alive HTTP/1.1 connections, one per thread of a small pool.

Measured on the 2-core development machine against the local simulator: an asyncio HTTP client
(httpx) with 32 requests in flight managed about 200 calls a second, while plain `http.client`
connections in 16 threads managed about 2,900. Sending is a handful of small JSON POSTs to one
host at a high rate, so the lanes await calls run on a thread pool of persistent connections.

A call on a connection the server closed while idle fails at once; it is retried once on a new
connection. That is safe because every send carries an Idempotency-Key.

Sending one request per message spent most of both sides' CPU on HTTP itself (py-spy, issue 10),
so `Batches` gathers the sends of a moment into the provider's batch endpoint (`POST /v1/batch`,
shaped like the Graph API's batch requests and the many-recipient calls of SMS gateways). Each
send keeps its own Idempotency-Key and gets its own answer; only the HTTP round trip is shared.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

_STALE = (
    http.client.RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    http.client.CannotSendRequest,
    http.client.BadStatusLine,
)


class CallFailed(Exception):
    """No answer: refused, reset or timed out."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    data: object = None  # the body already parsed (one answer of a batch)

    def json(self):
        return self.data if self.data is not None else json.loads(self.body)


class PooledHttp:
    def __init__(self, base_url: str, *, threads: int, timeout_s: float, name: str = "provider"):
        parts = urlsplit(base_url)
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"http-{name}")

    async def post(self, path: str, body: dict, headers: dict[str, str]) -> Answer:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.post_now, path, body, headers)

    def post_now(self, path: str, body: dict, headers: dict[str, str]) -> Answer:
        payload = json.dumps(body, ensure_ascii=False).encode()
        all_headers = {"Content-Type": "application/json", **headers}
        for attempt in (1, 2):
            connection, fresh = self._connection()
            try:
                connection.request("POST", self.prefix + path, payload, all_headers)
                response = connection.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self._drop()
                return Answer(
                    response.status,
                    {name.lower(): value for name, value in response.getheaders()},
                    data,
                )
            except _STALE as exc:
                self._drop()
                if fresh or attempt == 2:
                    raise CallFailed(type(exc).__name__) from exc
            except OSError as exc:  # refused, timed out, unreachable
                self._drop()
                raise CallFailed(type(exc).__name__) from exc
        raise CallFailed("unreachable")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection, False
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        self._local.connection = kind(self.host, self.port, timeout=self.timeout_s)
        return self._local.connection, True

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
        self._local.connection = None


class Batches:
    """Sends gathered into batch requests, like a Kafka producer's linger: a send waits at most
    `linger_s` for others to join it, and at most `size` go in one request. Sends are handed over
    only once their pacing slot has come, so batching never lets a sender go faster. With
    `size` 1 every send is its own request to its own path (a provider without a batch API)."""

    PATH = "/v1/batch"

    def __init__(self, http: PooledHttp, *, size: int, linger_s: float):
        self.http, self._size, self._linger_s = http, size, linger_s
        self._waiting: dict[
            tuple, list[tuple[dict, asyncio.Future]]
        ] = {}  # by the headers they share
        self._timers: dict[tuple, asyncio.TimerHandle] = {}
        self._calls: set[asyncio.Task] = set()

    async def post(self, path: str, body: dict, headers: dict[str, str]) -> Answer:
        if self._size <= 1:
            return await self.http.post(path, body, headers)
        loop = asyncio.get_running_loop()
        shared = tuple(
            sorted((name, value) for name, value in headers.items() if name != "Idempotency-Key")
        )
        future = loop.create_future()
        waiting = self._waiting.setdefault(shared, [])
        waiting.append(
            (
                {"path": path, "idempotency_key": headers.get("Idempotency-Key"), "body": body},
                future,
            )
        )
        if len(waiting) >= self._size:
            self._flush(shared)
        elif shared not in self._timers:
            self._timers[shared] = loop.call_later(self._linger_s, self._flush, shared)
        return await future

    def _flush(self, shared: tuple) -> None:
        timer = self._timers.pop(shared, None)
        if timer is not None:
            timer.cancel()
        items = self._waiting.pop(shared, [])
        if items:
            call = asyncio.get_running_loop().create_task(self._call(dict(shared), items))
            self._calls.add(call)  # held until done: the loop keeps only weak references to tasks
            call.add_done_callback(self._calls.discard)

    async def _call(
        self, headers: dict[str, str], items: list[tuple[dict, asyncio.Future]]
    ) -> None:
        try:
            answer = await self.http.post(
                self.PATH, {"requests": [request for request, _ in items]}, headers
            )
            answers = _split(answer, len(items))
        except CallFailed as exc:
            answers = [exc] * len(items)
        for (_, future), one in zip(items, answers):
            if future.done():
                continue
            if isinstance(one, Exception):
                future.set_exception(one)
            else:
                future.set_result(one)


def _split(answer: Answer, n: int) -> list[Answer | CallFailed]:
    """A batch's answer, one per request: a refused batch (429, 5xx, 4xx) is every send's answer."""
    if answer.status >= 300:
        return [answer] * n
    try:
        responses = answer.json()["responses"]
        if len(responses) != n:
            raise ValueError
        return [
            Answer(
                int(answer["status"]),
                {name.lower(): str(value) for name, value in (answer.get("headers") or {}).items()},
                b"",
                answer.get("body") or {},
            )
            for answer in responses
        ]
    except (ValueError, KeyError, TypeError):
        # The sends may have gone: their Idempotency-Keys make the retries safe.
        return [CallFailed("BAD_BATCH_ANSWER")] * n
