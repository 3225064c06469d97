"""The analytics Faust app: the one module that owns the app object.

Run it with `python -m analytics.app worker`. Health, readiness and metrics are pages on
Faust's own web server, so the worker needs no second HTTP server.
"""

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from analytics.settings import AnalyticsSettings
from shared.clients import mongo_client
from shared.health import kafka_check, mongo_check, readiness
from shared.logging import configure_logging
from shared.problems import MEDIA_TYPE

settings = AnalyticsSettings()
configure_logging(settings.service_name, settings.log_level)

app = faust.App(
    "sangathan-analytics",
    broker=f"kafka://{settings.kafka_bootstrap}",
    datadir=str(settings.data_dir),
    store="memory://",  # tables come back from their changelog topics on restart
    web_bind=settings.web_bind,
    web_port=settings.web_port,
    web_host=settings.web_bind,
    topic_partitions=12,
    autodiscover=False,
)

CHECKS = {
    "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
    "mongodb": mongo_check(mongo_client(settings)),
}


@app.page("/healthz")
async def healthz(web, request):
    return web.json({"status": "ok"})


@app.page("/readyz")
async def readyz(web, request):
    status, body = await readiness(CHECKS, settings.dependency_timeout_s, request.path)
    return web.json(body, status=status, content_type=None if status == 200 else MEDIA_TYPE)


@app.page("/metrics")
async def metrics(web, request):
    # aiohttp refuses a charset inside content_type=, so the header is set as is.
    return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


if __name__ == "__main__":
    app.main()
