"""The AsyncAPI 3.0 document, generated from the payload models (never written by hand)."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from shared.events.contracts import EventPayload
from shared.events.envelope import CONTENT_TYPE, SPEC_VERSION

_CE_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0, Kafka binary content mode, plus W3C trace context.",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": SPEC_VERSION},
        "ce_id": {"type": "string", "description": "Unique per source; consumers de-duplicate on source+id"},
        "ce_source": {"type": "string", "examples": ["/htx-monitor/registry"]},
        "ce_type": {"type": "string"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The record key"},
        "content-type": {"type": "string", "const": CONTENT_TYPE},
        "traceparent": {"type": "string", "description": "W3C trace context"},
    },
}


def asyncapi_document(
    service: str, publishes: tuple[type[EventPayload], ...], consumes: tuple[type[EventPayload], ...]
) -> dict[str, Any]:
    models = list(dict.fromkeys((*publishes, *consumes)))
    _, schema = models_json_schema([(m, "serialization") for m in models], ref_template="#/components/schemas/{model}")
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for model in models:
        name = model.__name__
        channel_id = model.topic.replace(".", "_")
        messages[name] = {
            "name": model.event_type,
            "title": name,
            "summary": model.summary,
            "contentType": CONTENT_TYPE,
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {
                "kafka": {
                    "key": {
                        "type": "string",
                        "description": f"{model.key_description}: the identity that `version` counts; order and "
                        "versions hold per key",
                    }
                }
            },
        }
        channels[channel_id] = {
            "address": model.topic,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        if model in publishes:
            operations[f"publish_{channel_id}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
            }
        if model in consumes:
            operations[f"consume_{channel_id}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel_id}"},
            }
    schemas = dict(schema.get("$defs", {}))
    schemas["CloudEventHeaders"] = _CE_HEADERS
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"HTX Monitor — {service}",
            "version": "1.0.0",
            "description": "Events of the HTX Monitor system (kế hoạch 219/KH-UBND, TP. Cần Thơ).",
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
