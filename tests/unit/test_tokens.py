from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.auth import TokenVerifier, mint_token
from shared.errors import Unauthorized
from shared.settings import AuthSettings


def test_a_minted_token_verifies_to_its_agency_and_scopes(auth_settings: AuthSettings) -> None:
    token = mint_token(auth_settings, agency="UBND-916", scopes="registry:read registry:write")
    principal = TokenVerifier(auth_settings).verify(token)
    assert principal.agency == "UBND-916"
    assert principal.scopes == {"registry:read", "registry:write"}


def test_the_algorithm_is_pinned_even_if_the_token_says_otherwise(auth_settings: AuthSettings) -> None:
    claims = {
        "sub": "x",
        "agency": "SNN",
        "scope": "registry:read",
        "iss": auth_settings.jwt_issuer,
        "aud": auth_settings.jwt_audience,
        "exp": datetime.now(UTC) + timedelta(hours=1),
    }
    forged = jwt.encode(claims, auth_settings.signing_secret(), algorithm="HS512")
    with pytest.raises(Unauthorized):
        TokenVerifier(auth_settings).verify(forged)


def test_unknown_algorithm_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="HTX_JWT_ALGORITHM"):
        TokenVerifier(AuthSettings(HTX_JWT_ALGORITHM="none"))  # type: ignore[call-arg]
