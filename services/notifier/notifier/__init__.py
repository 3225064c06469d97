"""Notifier: directives from HQ fanned out to every booth team over WhatsApp, SMS and more,
with delivery and acknowledgement tracked."""
