"""JetStream streams, created (or brought up to date) idempotently at start-up."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

logger = logging.getLogger(__name__)

# One stream per producing service, one for departments' feeds, one for parked
# messages. NATS is the transport: PostgreSQL holds the record.
STREAM_SUBJECTS: dict[str, list[str]] = {
    "INTAKE": ["intake.>"],
    "SCREENING": ["screening.>"],
    "CASEWORK": ["casework.>"],
    "ASSISTANCE": ["assistance.>"],
    "DEPT": ["dept.>"],
    "DEADLETTER": ["deadletter.>"],
}

PRODUCER_STREAM = {
    "intake": "INTAKE",
    "screening": "SCREENING",
    "casework": "CASEWORK",
    "assistance": "ASSISTANCE",
}

DUPLICATE_WINDOW_SECONDS = 15 * 60


def stream_config(name: str, replicas: int) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=STREAM_SUBJECTS[name],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        deny_delete=True,
        deny_purge=True,
    )


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    for name in STREAM_SUBJECTS:
        config = stream_config(name, replicas)
        try:
            await js.stream_info(name)
        except NotFoundError:
            try:
                await js.add_stream(config)
                logger.info("created stream %s", name)
            except BadRequestError:
                # Another replica created it between our look and our add.
                await js.update_stream(config)
            continue
        await js.update_stream(config)
