"""The one place that wires the simulator: its state, the callbacks it owes, and (when
SIMULATOR_HONOUR_ERASURES) the erasure reader."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from shared.background import BackgroundJobs
from simulator.adapters.callbacks import Callbacks
from simulator.adapters.erasures import erasures_job
from simulator.adapters.keys import webhook_key
from simulator.handlers import Provider
from simulator.settings import SimulatorSettings


@dataclass
class Adapters(BackgroundJobs):
    settings: SimulatorSettings
    provider: Provider
    callbacks: Callbacks
    _reporting: asyncio.Task | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        # Called on the event loop (the app's startup): reporting is a task of the loop that
        # owns the provider's state.
        loop = asyncio.get_running_loop()
        self._reporting = loop.create_task(self.callbacks.run())
        if self.settings.honour_erasures:
            self.background = [erasures_job(self.settings, self.provider, loop)]
        super().start()

    def stop(self) -> None:
        if self._reporting is not None:
            self._reporting.cancel()
        super().stop()


def bootstrap(settings: SimulatorSettings) -> Adapters:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per callback is noise
    provider = Provider(settings)
    return Adapters(
        settings=settings,
        provider=provider,
        callbacks=Callbacks(provider, settings, webhook_key(settings)),
    )
