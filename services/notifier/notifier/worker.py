"""The notifier's workers without the HTTP API: fan-out, lanes, retries, outbox relay and
follow-ups, for a deployment that scales sending apart from the API (the API then runs with
NOTIFIER_RUN_WORKERS=false; NOTIFIER_LANES picks the lanes a worker serves).

    python -m notifier.worker
"""

import signal
import threading

from notifier.bootstrap import bootstrap
from notifier.settings import NotifierSettings
from shared.logging import configure_logging, get_logger

log = get_logger(__name__)


def main() -> None:
    settings = NotifierSettings()
    configure_logging(f"{settings.service_name}-worker", settings.log_level)
    adapters = bootstrap(settings, run_workers=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    adapters.start()
    log.info("notifier workers started", fields={"lanes": list(settings.lanes)})
    stop.wait()
    adapters.stop()


if __name__ == "__main__":
    main()
