"""The notifier's service layer: one short function per command or event, by job. The rules live in
`notifier.domain`; these modules order the steps and decide what is stored, published and counted.

    ports.py       what the handlers need (Protocols, wired in `notifier.bootstrap`) and their
                   refusals
    directives.py  issue, cancel, the outbox relay, and directive-issued -> a fan-out queued
    rounds.py      a recurring directive's next round queued (here and by `notifier.fanout`)
    receipts.py    provider receipts -> delivery-status events and late fallbacks; acknowledgements
    consent.py     opt-outs and erasures
    service_messages.py  other services' per-recipient messages (OTP codes, meeting
                   invitations) onto their lanes, each once
    mover.py       waiting tasks back onto their lanes

A directive from the route to a send: `api.py` -> `handlers/directives.py` -> `fanout.py` ->
`sending.py`.
"""
