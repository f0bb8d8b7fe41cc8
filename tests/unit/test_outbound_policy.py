"""The outbound-URL policy (shared/outbound.py) on its own: what a webhook URL may name, without a network."""

from __future__ import annotations

import ipaddress

import pytest

from shared.outbound import REFUSED, OutboundPolicy, literal_address, non_public_kind

POLICY = OutboundPolicy()

REFUSED_URLS = [
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://0x7f000001/hook",
    "https://2130706433/hook",
    "https://0177.0.0.1/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[64:ff9b::7f00:1]/hook",
    "https://0.0.0.0/hook",
    "https://localhost:8001/hook",
    "https://api.localhost/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.10/hook",
    "https://100.64.0.1/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://[fe80::1]/hook",
    "https://postgres/hook",
    "https://kafka:9092/hook",
    "https://printer.local/hook",
    "http://egov.phongdien.cantho.gov.vn/hook",  # http only where configured
    "ftp://egov.phongdien.cantho.gov.vn/hook",
    "https://user:pass@egov.phongdien.cantho.gov.vn/hook",
    "https://egov.phongdien.cantho.gov.vn:99999/hook",
    "https:///hook",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_url_naming_a_non_public_destination_is_refused_with_the_reason(url: str) -> None:
    reason = POLICY.refusal(url)
    assert reason is not None and reason.startswith(REFUSED), url


@pytest.mark.parametrize(
    "url",
    [
        "https://egov.phongdien.cantho.gov.vn/htx/canh-bao",
        "https://8.8.8.8/hook",
        "https://[2001:4860:4860::8888]/hook",
        "https://ủybannhândân.vn/hook",
    ],
)
def test_a_public_https_url_is_accepted(url: str) -> None:
    assert POLICY.refusal(url) is None


def test_every_spelling_of_loopback_reads_as_the_resolver_reads_it() -> None:
    for spelling in ("127.1", "0x7f000001", "2130706433", "0177.0.0.1", "127.0.1"):
        address = literal_address(spelling)
        assert address is not None and address.is_loopback, spelling
    assert literal_address("egov.vn") is None and literal_address("beef.cafe") is None


def test_the_refusal_says_what_the_address_is() -> None:
    assert "127.1 = 127.0.0.1 is a loopback address" in str(POLICY.refusal("https://127.1/x"))
    assert "link-local" in str(POLICY.refusal("https://169.254.169.254/"))
    assert "single-label" in str(POLICY.refusal("https://postgres/"))
    assert non_public_kind(ipaddress.ip_address("8.8.8.8")) is None


def test_the_allow_list_admits_on_premises_receivers_and_nothing_else() -> None:
    policy = OutboundPolicy.build(["hooks.so-tc.local", "*.egov.lan"], ["10.20.0.0/16"], allow_http=True)
    assert policy.refusal("http://10.20.3.4:8080/hook") is None
    assert policy.refusal("https://hooks.so-tc.local/hook") is None
    assert policy.refusal("https://a.egov.lan/hook") is None
    assert policy.refusal("https://10.21.0.1/hook") is not None
    assert policy.refusal("https://127.0.0.1/hook") is not None
    assert policy.refusal("https://other.local/hook") is not None


def test_an_invalid_network_in_the_settings_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="not-a-cidr"):
        OutboundPolicy.build([], ["not-a-cidr"], allow_http=False)
