"""The one place that wires the simulator: its state, the callbacks it owes, and (when
SIMULATOR_HONOUR_ERASURES) the erasure reader."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from shared.background import BackgroundJobs
from simulator.adapters.callbacks import Callbacks, ConferenceCallbacks
from simulator.adapters.erasures import erasures_job
from simulator.adapters.keys import webhook_key
from simulator.handlers import Provider
from simulator.settings import SimulatorSettings


@dataclass
class Adapters(BackgroundJobs):
    settings: SimulatorSettings
    provider: Provider
    callbacks: Callbacks
    conference_callbacks: ConferenceCallbacks
    _reporting: list[asyncio.Task] = field(default_factory=list, init=False, repr=False)

    def start(self) -> None:
        # Called on the event loop (the app's startup): reporting is a task of the loop that
        # owns the provider's state.
        loop = asyncio.get_running_loop()
        self._reporting = [
            loop.create_task(self.callbacks.run()),
            loop.create_task(self.conference_callbacks.run()),
        ]
        if self.settings.honour_erasures:
            self.background = [erasures_job(self.settings, self.provider, loop)]
        super().start()

    def stop(self) -> None:
        for task in self._reporting:
            task.cancel()
        super().stop()


def bootstrap(settings: SimulatorSettings) -> Adapters:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per callback is noise
    key = webhook_key(settings)
    provider = Provider(settings, caller_key=key)
    return Adapters(
        settings=settings,
        provider=provider,
        callbacks=Callbacks(provider, settings, key),
        conference_callbacks=ConferenceCallbacks(provider, settings, key),
    )
