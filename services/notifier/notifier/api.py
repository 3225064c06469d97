"""HTTP entrypoint of the notifier: translates requests, nothing more."""

from notifier.bootstrap import bootstrap
from notifier.settings import NotifierSettings
from shared.http import create_app

settings = NotifierSettings()
adapters = bootstrap(settings)

app = create_app(service=settings.service_name, settings=settings, checks=adapters.checks)
