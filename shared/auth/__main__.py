"""``python -m shared.auth token --agency SNN --scope "registry:read registry:write"``

Prints a bearer token signed with the local run's key (``HTX_JWT_SECRET`` or ``.local/jwt-secret``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from shared.auth.tokens import mint_token
from shared.settings import AuthSettings

DEFAULT_SCOPES = "registry:read registry:write indicators:read indicators:admin notifications:read notifications:write"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.auth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    token = sub.add_parser("token", help="mint a bearer token for local use")
    token.add_argument("--agency", required=True, help="agency code, e.g. SNN or UBND-916")
    token.add_argument("--scope", default=DEFAULT_SCOPES, help="space-separated scopes")
    token.add_argument("--sub", default=None, help="subject (defaults to <agency>-officer)")
    token.add_argument("--ttl-hours", type=float, default=8.0)
    args = parser.parse_args(argv)
    settings = AuthSettings()
    if settings.jwt_algorithm != "HS256":
        parser.error("the local token tool only signs HS256 tokens")
    minted = mint_token(
        settings, agency=args.agency, scopes=args.scope, subject=args.sub, ttl=timedelta(hours=args.ttl_hours)
    )
    sys.stdout.write(minted + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
