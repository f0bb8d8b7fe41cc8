from datetime import UTC, datetime, timedelta, timezone

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent as SdkCloudEvent

from shared.events.envelope import CloudEvent, MalformedEvent, encode_data, from_record, to_headers


def _event() -> CloudEvent:
    return CloudEvent(
        type="vn.gov.cantho.htx.registry.cooperative-status.v1",
        source="/htx-monitor/registry",
        subject="2f6c0c1e-0000-4000-8000-000000000001",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        time=datetime(2025, 6, 9, 16, 59, tzinfo=UTC),
        data={"name": "Hợp tác xã Mỹ Khánh", "members": 120},
    )


def test_round_trip_keeps_attributes_and_vietnamese_text() -> None:
    event = _event()
    parsed = from_record(to_headers(event), encode_data(event.data))
    assert parsed == event
    assert parsed.data["name"] == "Hợp tác xã Mỹ Khánh"


def test_headers_are_valid_cloudevents_binary_mode_for_the_official_sdk() -> None:
    event = _event()
    message = ce_kafka.KafkaMessage(
        headers=dict(to_headers(event)),
        key=event.subject.encode() if event.subject else None,
        value=encode_data(event.data),
    )
    parsed = ce_kafka.from_binary_event(message)
    assert parsed.get_specversion() == "1.0"
    assert parsed.get_id() == event.id
    assert parsed.get_type() == event.type
    assert parsed.get_source() == event.source
    assert parsed.get_time() == event.time
    assert parsed.get_subject() == event.subject
    assert parsed.get_datacontenttype() == "application/json"
    assert parsed.get_data() == event.data


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([], b"{}", "missing CloudEvents header"),
        ([("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/x")], b"{}", "ce_type"),
        ([("ce_specversion", b"0.3"), ("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"t")], b"{}", "0.3"),
        ([("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"t")], b"{no", "JSON"),
        ([("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"t")], b"[1]", "object"),
        (
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", b"1"),
                ("ce_source", b"/x"),
                ("ce_type", b"t"),
                ("ce_time", b"yesterday"),
            ],
            b"{}",
            "RFC 3339",
        ),
    ],
)
def test_malformed_records_are_refused_with_the_reason(
    headers: list[tuple[str, bytes]], value: bytes, reason: str
) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        from_record(headers, value)


def test_wire_format_is_pinned_headers_in_order_and_compact_utf8_json() -> None:
    event = _event()
    assert to_headers(event) == [
        ("ce_specversion", b"1.0"),
        ("ce_id", event.id.encode()),
        ("ce_source", b"/htx-monitor/registry"),
        ("ce_type", b"vn.gov.cantho.htx.registry.cooperative-status.v1"),
        ("ce_time", b"2025-06-09T16:59:00Z"),
        ("content-type", b"application/json"),
        ("ce_subject", b"2f6c0c1e-0000-4000-8000-000000000001"),
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ]
    assert encode_data(event.data) == '{"name":"Hợp tác xã Mỹ Khánh","members":120}'.encode()


def test_a_time_in_another_zone_is_written_in_utc() -> None:
    event = CloudEvent(
        type="t", source="/x", data={}, time=datetime(2025, 6, 9, 23, 59, tzinfo=timezone(timedelta(hours=7)))
    )
    assert dict(to_headers(event))["ce_time"] == b"2025-06-09T16:59:00Z"


def test_records_written_by_the_official_sdk_are_read() -> None:
    written = ce_kafka.to_binary_event(
        SdkCloudEvent(
            {
                "type": "t",
                "source": "/x",
                "subject": "k",
                "time": datetime(2025, 6, 9, 16, 59, tzinfo=UTC),
                "datacontenttype": "application/json",
            },
            {"name": "Hợp tác xã Mỹ Khánh"},
        )
    )
    assert b"\\u" in written.value  # the SDK escapes non-ASCII; we read it all the same
    parsed = from_record(list(written.headers.items()), written.value)
    assert (parsed.type, parsed.source, parsed.subject) == ("t", "/x", "k")
    assert parsed.time == datetime(2025, 6, 9, 16, 59, tzinfo=UTC)
    assert parsed.data == {"name": "Hợp tác xã Mỹ Khánh"}


@pytest.mark.parametrize("value", [b"2025-06-09T16:59:00", b"2025-06-09"])
def test_a_time_without_offset_is_malformed(value: bytes) -> None:
    # A naive time would reach the consumer and fail there, after the effects, on every redelivery.
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"t")]
    with pytest.raises(MalformedEvent, match="no UTC offset"):
        from_record([*headers, ("ce_time", value)], b"{}")


def test_unknown_headers_and_extensions_are_ignored() -> None:
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"t")]
    parsed = from_record([*headers, ("ce_foo_bar", b"x"), ("ce_partitionkey", b"k"), ("x-other", b"y")], b"{}")
    assert parsed.id == "1"


def test_dedup_key_is_source_plus_id() -> None:
    event = _event()
    assert event.dedup_key == f"/htx-monitor/registry#{event.id}"
