"""Who is calling: OAuth2 bearer JWTs (EdDSA), verified with the issuer's public key.

Each service takes only tokens whose audience (`aud`) names it. Organisers carry their unit in the
token and act only inside that unit's subtree; services carry scopes for the calls they make to
each other. `access` is the one check every entrypoint uses; `exchange` narrows an organiser's
token for the dashboard. In production an identity provider issues the tokens; locally
`python -m shared.auth.issuer` does (keys under `.state/auth/`).
"""
