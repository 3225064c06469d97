"""Appointments: booth teams appointed by organisers, verified by OTP, live on the portal.
This service also serves the organisation registry's read API."""
