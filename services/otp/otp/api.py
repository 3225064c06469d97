"""HTTP entrypoint of the OTP service: translates requests, nothing more."""

from otp.bootstrap import bootstrap
from otp.settings import OtpSettings
from shared.http import create_app

settings = OtpSettings()
adapters = bootstrap(settings)

app = create_app(service=settings.service_name, settings=settings, checks=adapters.checks)
