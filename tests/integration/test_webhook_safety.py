"""Outbound-call safety on the real service: a webhook may not reach the service's own network, neither named
at registration nor through a name that resolves to an internal address when the worker connects."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from services.notifications.workers.delivery import deliver_due
from tests.integration.notifications_support import (
    NOW,
    SECRET,
    Receiver,
    add_channel,
    attempts_of,
    auth,
    deliveries_of,
    raise_alert,
    serve,
    started,
)

pytestmark = pytest.mark.integration
INTERNAL = [
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://127.1/hook",
    "https://0x7f000001/hook",
    "https://2130706433/hook",
    "https://[::1]/hook",
    "https://0.0.0.0/hook",
    "https://localhost:8001/hook",
    "https://10.0.0.5/hook",
    "https://postgres/hook",
    "https://kafka:9092/hook",
]


async def test_registering_an_internal_webhook_is_refused_naming_the_field(isolated_env: dict[str, str]) -> None:
    async with started(webhook_allowed_networks=[], webhook_allow_http=False) as service:
        url = "/v1/agencies/SCT/channels"
        read = await service.client.get(url, headers=auth("SCT"))
        channels = [{"kind": "webhook", "address": a, "secret": SECRET} for a in INTERNAL]
        body = {"language": "vi", "digest": False, "channels": channels}
        refused = await service.client.put(url, json=body, headers={**auth("SCT"), "If-Match": read.headers["etag"]})
        after = await service.client.get(url, headers=auth("SCT"))
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    errors = refused.json()["errors"]
    assert [e["field"] for e in errors] == [f"channels.{i}.address" for i in range(len(INTERNAL))]
    assert all(e["message"].startswith("Địa chỉ webhook không được phép (address not allowed)") for e in errors)
    assert after.json()["channels"] == []


async def test_a_name_that_resolves_to_loopback_at_delivery_is_refused_and_nothing_is_sent(
    isolated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name passed at registration (a public-looking name); at delivery it answers 127.0.0.1,
    where a receiver listens. The attempt records the refusal, never the receiver's answer."""
    receiver = Receiver([200])
    real = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("hooks.so-cong-thuong.example.vn", "hooks.allowed.example.vn"):
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    allowed = {"webhook_allowed_networks": [], "webhook_allowed_hosts": ["hooks.allowed.example.vn"]}
    async with serve(receiver.app()) as url, started(webhook_allow_http=True, **allowed) as service:
        port = url.rsplit(":", 1)[1]
        await add_channel(service.runtime, "SCT", "webhook", f"http://hooks.so-cong-thuong.example.vn:{port}/hooks/htx")
        await add_channel(service.runtime, "SNN", "webhook", f"http://169.254.169.254:{port}/hooks/htx")  # stored
        await add_channel(service.runtime, "UBND-926", "webhook", f"http://hooks.allowed.example.vn:{port}/hooks/htx")
        rebound = await raise_alert(service.runtime, "SCT", NOW)
        metadata = await raise_alert(service.runtime, "SNN", NOW)
        on_premises = await raise_alert(service.runtime, "UBND-926", NOW)
        assert await deliver_due(service.runtime, NOW) == 3
        [refused] = await deliveries_of(service.runtime, rebound.id)
        [attempt] = await attempts_of(service.runtime, refused.id)
        [stored] = await deliveries_of(service.runtime, metadata.id)
        [accepted] = await deliveries_of(service.runtime, on_premises.id)
        log = await service.client.get("/v1/deliveries", params={"alert_id": str(rebound.id)}, headers=auth("SCT"))
    assert refused.status == "failed" and refused.attempts == 1  # a refusal is final, not retried
    assert refused.last_error == attempt.detail
    assert attempt.detail.startswith("Địa chỉ webhook không được phép (address not allowed)")
    assert "127.0.0.1 is a loopback address" in attempt.detail and "HTTP" not in attempt.detail
    assert stored.status == "failed" and "link-local" in (stored.last_error or "")
    assert accepted.status == "sent"  # the allow-listed on-premises name reaches its receiver
    [(headers, _, _)] = receiver.requests  # only the allow-listed one arrived
    assert headers["host"] == f"hooks.allowed.example.vn:{port}"  # sent to the vetted address, Host kept
    assert log.json()["items"][0]["attempt_log"][0]["detail"] == attempt.detail
