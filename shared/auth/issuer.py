"""The local token issuer, for development and tests (production uses the identity provider).

    python -m shared.auth.issuer organiser --sub user-1 --unit IN-HP-D03 [--role district_president]
        [--scope directives:override-quiet-hours]   # a scope beyond an organiser's usual ones
    python -m shared.auth.issuer services      # (re)writes each service's own token file

Organiser tokens go to standard output; service tokens to `.state/auth/tokens/<service>.jwt`,
which each service reads (SERVICE_TOKEN_FILE) when it calls another.
"""

import argparse
import os
from datetime import timedelta
from pathlib import Path

from shared.auth import tokens
from shared.auth.keys import LOCAL_TOKENS, ensure_local_keys, private_key_file

ISSUER = "sangathan-local"
AUDIENCE = "sangathan"
ORGANISER_SCOPES = ["appointments:read", "appointments:write", "directives:issue", "coverage:read"]
# What each service may ask of the others.
SERVICE_SCOPES = {
    "appointments": ["otp:verify"],
    "otp": ["messages:send"],  # hands codes to the notifier
    "notifier": ["recipients:read"],
    "analytics": [],
}


def organiser_token(*, sub: str, unit: str, role: str | None = None,
                    ttl: timedelta = timedelta(hours=8), scopes: list[str] | None = None) -> str:
    private, _ = ensure_local_keys()
    return tokens.issue(private_key_file(private).get(), issuer=ISSUER, audience=AUDIENCE,
                        subject=sub, kind=tokens.ORGANISER, unit=unit, role=role,
                        scopes=ORGANISER_SCOPES if scopes is None else scopes, ttl=ttl)


def service_token(service: str, ttl: timedelta = timedelta(days=30)) -> str:
    private, _ = ensure_local_keys()
    return tokens.issue(private_key_file(private).get(), issuer=ISSUER, audience=AUDIENCE,
                        subject=f"svc:{service}", kind=tokens.SERVICE,
                        scopes=SERVICE_SCOPES[service], ttl=ttl)


def write_service_tokens(directory: Path = LOCAL_TOKENS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for service in SERVICE_SCOPES:
        path = directory / f"{service}.jwt"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(service_token(service))
        tmp.replace(path)  # atomic: a service never reads half a token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    organiser = commands.add_parser("organiser", help="print an organiser's token")
    organiser.add_argument("--sub", required=True, help="account id, e.g. user-4821")
    organiser.add_argument("--unit", required=True, help="their unit, e.g. IN-HP-D03")
    organiser.add_argument("--role", default=None)
    organiser.add_argument("--hours", type=float, default=8)
    organiser.add_argument("--scope", action="append", default=[], help="a further scope (repeatable)")
    commands.add_parser("services", help="write every service's token file")
    args = parser.parse_args()
    if args.command == "organiser":
        print(organiser_token(sub=args.sub, unit=args.unit, role=args.role, ttl=timedelta(hours=args.hours),
                              scopes=ORGANISER_SCOPES + args.scope))
    else:
        write_service_tokens()


if __name__ == "__main__":
    main()
