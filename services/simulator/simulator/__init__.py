"""A local stand-in for the messaging providers (WhatsApp business platform, an Indian SMS
gateway, the organisation's app push and an audio-bridge dialler), for development, tests and
benchmarks. It behaves like a provider where it matters to the notifier: per-sender rate limits
(429), transient (5xx) and permanent (4xx) failures, template and DLT checks, and signed status
webhooks that arrive late, twice, and out of order."""
