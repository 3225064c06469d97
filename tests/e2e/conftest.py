"""Fixtures more than one end-to-end module uses, defined with the appointments flow they come
from: a district organiser's headers and a booth with no active appointments."""

from tests.e2e.test_appointments_flow import booth, organiser  # noqa: F401 (fixtures)
