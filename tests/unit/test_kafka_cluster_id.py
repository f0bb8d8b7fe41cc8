"""The KRaft cluster id handed to Kafka's storage tool on the command line."""

from __future__ import annotations

import base64

from shared.infra.kafka_apache import _cluster_id


def test_cluster_ids_never_look_like_an_option_and_are_16_bytes() -> None:
    ids = [_cluster_id() for _ in range(5000)]  # ~78 would start with '-' if nothing prevented it
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    assert len(set(ids)) == len(ids)
