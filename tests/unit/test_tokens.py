import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from shared.auth import Principal, TokenVerifier, mint_token, require_scope
from shared.errors import Unauthorized, install_error_handlers
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


def test_a_verified_token_is_remembered_but_only_byte_for_byte(
    auth_settings: AuthSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = TokenVerifier(auth_settings)
    token = mint_token(auth_settings, agency="SNN", scopes="registry:read")
    first = verifier.verify(token)
    decodes = 0
    real_decode = jwt.decode

    def counting_decode(*args: object, **kwargs: object) -> object:
        nonlocal decodes
        decodes += 1
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert verifier.verify(token) == first
    assert decodes == 0
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(Unauthorized):
        verifier.verify(tampered)  # not the remembered token: verified in full, and refused
    with pytest.raises(Unauthorized):
        verifier.verify(tampered)  # refusals are not remembered either
    assert decodes == 2


async def test_a_remembered_token_still_expires_on_time(auth_settings: AuthSettings) -> None:
    # exp 29 s ago: accepted within the 30 s leeway, refused from one second from now.
    issued = datetime.now(UTC) - timedelta(hours=1, seconds=29)
    token = mint_token(auth_settings, agency="SNN", scopes="registry:read", ttl=timedelta(hours=1), now=issued)
    verifier = TokenVerifier(auth_settings)
    assert (await verifier.verify_async(token)).agency == "SNN"
    assert (await verifier.verify_async(token)).agency == "SNN"  # from memory
    await asyncio.sleep(1.2)
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify_async(token)


async def test_require_scope_checks_the_token_itself_when_no_middleware_did(auth_settings: AuthSettings) -> None:
    """The dependency reads the principal the auth-first middleware verified; without that middleware (an app
    built otherwise) it still refuses a missing or non-bearer token (401) and a token without the scope (403)."""
    app = FastAPI()
    install_error_handlers(app)
    app.state.token_verifier = TokenVerifier(auth_settings)

    @app.get("/v1/thing")
    async def thing(principal: Principal = Depends(require_scope("registry:write"))) -> dict[str, str]:
        return {"agency": principal.agency}

    writer = mint_token(auth_settings, agency="SNN", scopes="registry:read registry:write")
    reader = mint_token(auth_settings, agency="SNN", scopes="registry:read")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        assert (await http.get("/v1/thing")).status_code == 401
        assert (await http.get("/v1/thing", headers={"Authorization": f"Basic {writer}"})).status_code == 401
        assert (await http.get("/v1/thing", headers={"Authorization": "Bearer not-a-jwt"})).status_code == 401
        refused = await http.get("/v1/thing", headers={"Authorization": f"Bearer {reader}"})
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        allowed = await http.get("/v1/thing", headers={"Authorization": f"bearer {writer}"})
        assert allowed.status_code == 200
        assert allowed.json() == {"agency": "SNN"}


def _signed(auth_settings: AuthSettings, **claims: object) -> str:
    now = datetime.now(UTC)
    base = {
        "sub": "can-bo-snn-01",
        "agency": "SNN",
        "scope": "registry:read",
        "iss": auth_settings.jwt_issuer,
        "aud": auth_settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    return jwt.encode({**base, **claims}, auth_settings.signing_secret(), algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "x" * 201},  # longer than the audit trail's actor column
        {"sub": "can-bo\x00snn"},  # PostgreSQL text cannot hold NUL
        {"sub": "can-bo\x19snn"},
        {"sub": ""},
        {"sub": "   "},
        {"agency": "UBND 916; DROP"},
        {"agency": "A" * 31},
        {"exp": 10**40},  # no maximum lifetime before
        {"exp": datetime.now(UTC) + timedelta(days=30)},
    ],
)
def test_a_token_with_an_unusable_subject_agency_or_lifetime_is_401(
    auth_settings: AuthSettings, claims: dict[str, object]
) -> None:
    with pytest.raises(Unauthorized):
        TokenVerifier(auth_settings).verify(_signed(auth_settings, **claims))


def test_a_token_for_a_working_day_with_a_vietnamese_subject_verifies(auth_settings: AuthSettings) -> None:
    token = _signed(auth_settings, sub="Nguyễn Văn Ấn", exp=datetime.now(UTC) + timedelta(hours=23))
    assert TokenVerifier(auth_settings).verify(token).subject == "Nguyễn Văn Ấn"
