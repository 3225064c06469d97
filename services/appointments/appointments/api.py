"""HTTP entrypoint of the appointments service: translates requests, nothing more."""

from appointments.bootstrap import bootstrap
from appointments.settings import AppointmentsSettings
from shared.http import create_app
from shared.orgtree.api import units_router

settings = AppointmentsSettings()
adapters = bootstrap(settings)

app = create_app(
    service=settings.service_name,
    settings=settings,
    checks=adapters.checks,
    routers=[units_router(lambda: adapters.org_registry)],
)
