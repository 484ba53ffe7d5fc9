"""The inbox: durable JetStream consumers that process messages in batches.

A batch is fetched, each message is checked against its contract, and the
handler records its new events (or projection rows) together with one tracking
record per upstream message in a single transaction. Acks follow the commit.

* A message that breaks its contract goes straight to the dead-letter stream.
* A message whose tracking record exists is acked with no second effect.
* If the batch fails, its messages are retried one at a time, so one bad message
  cannot hold up the rest; each failure is naked with a back-off, and after
  ``max_attempts`` deliveries the message is parked in the dead-letter stream with
  its reason. Database outages never park a message: it waits for the database.
  A lost race with another writer is retried longer than other failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import psycopg
from eventsourcing import persistence
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from fangpin.contracts import Contract, ContractError, Envelope, parse_envelope
from fangpin.relay import HEADER_NOTIFICATION_ID, HEADER_PRODUCER

logger = logging.getLogger(__name__)

HEADER_REASON = "Fangpin-Reason"
HEADER_ORIGINAL_SUBJECT = "Fangpin-Original-Subject"
HEADER_ORIGINAL_SEQUENCE = "Fangpin-Original-Sequence"
HEADER_CONSUMER = "Fangpin-Consumer"

TrackingKey = tuple[str, int]


class Rejected(Exception):
    """The message can never be processed; the text says why, without personal data."""


@dataclass(frozen=True)
class Incoming:
    key: TrackingKey
    subject: str
    envelope: Envelope | None
    data: Contract


class BatchHandler(Protocol):
    def tracked(self, keys: list[TrackingKey]) -> set[TrackingKey]: ...

    def process(self, messages: list[Incoming]) -> None:
        """Apply every message and record its tracking key, all in one transaction."""


def hash_key(text: str) -> int:
    """A 63-bit number naming a message that carries no notification id."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def tracking_key(msg: Msg) -> TrackingKey:
    """Name the upstream message by where it was stored, not by stream sequence.

    Relayed events carry their producer and notification id, which stay the same
    when a lost stream is refilled from the event stores. Other publishers are
    named by their ``Nats-Msg-Id``.
    """
    headers = msg.headers or {}
    producer = headers.get(HEADER_PRODUCER)
    notification_id = headers.get(HEADER_NOTIFICATION_ID)
    if producer and notification_id and notification_id.isdigit():
        return producer, int(notification_id)
    message_id = headers.get("Nats-Msg-Id")
    if message_id:
        return "msg-id", hash_key(message_id)
    return "stream-seq", hash_key(
        f"{msg.metadata.stream}:{msg.metadata.sequence.stream}"
    )


def parse_event(msg: Msg) -> Incoming:
    envelope, data = parse_envelope(msg.data)
    return Incoming(tracking_key(msg), msg.subject, envelope, data)


# The database is away: the message waits for it, however long that takes.
DATABASE_AWAY: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
    TimeoutError,
)
# Another writer (an official's command, a sibling consumer) changed the same
# aggregate first: processing again on fresh state resolves it. A message that
# loses every time is a fault, not a race, and is parked after this many times
# the usual attempts.
LOST_RACE: tuple[type[Exception], ...] = (persistence.IntegrityError,)
RACE_PATIENCE = 4


def backoff_seconds(deliveries: int) -> float:
    return float(min(30.0, 0.5 * 2 ** max(0, deliveries - 1)))


@dataclass(frozen=True)
class Subscription:
    stream: str
    subject: str
    durable: str


class Inbox:
    """One service's consumers; each durable consumer reads one upstream stream.

    Pull consumers, explicit acks, no server-side delivery limit: the inbox
    decides when a message is given up on, and parks it rather than dropping it.
    """

    def __init__(
        self,
        js: Callable[[], JetStreamContext],
        service: str,
        handler: BatchHandler,
        batch_size: int = 500,
        max_attempts: int = 5,
        ack_wait_seconds: float = 60.0,
        parse: Callable[[Msg], Incoming] = parse_event,
    ):
        self.js = js
        self.service = service
        self.handler = handler
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.ack_wait_seconds = ack_wait_seconds
        self.parse = parse
        self.subscriptions: list[Subscription] = []
        self.processed = 0
        self.dead_lettered = 0

    def consume(self, stream: str, subject: str, durable: str | None = None) -> None:
        durable = durable or f"{self.service}-{stream.lower()}"
        self.subscriptions.append(Subscription(stream, subject, durable))

    async def ensure_consumer(self, subscription: Subscription) -> None:
        config = ConsumerConfig(
            durable_name=subscription.durable,
            filter_subject=subscription.subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_seconds,
            max_deliver=-1,
            max_ack_pending=self.batch_size * 4,
        )
        # Adding a durable consumer with the same configuration is a no-op, so
        # every replica may do it at start-up.
        await self.js().add_consumer(subscription.stream, config)

    async def run(self, subscription: Subscription, stopping: asyncio.Event) -> None:
        await self.ensure_consumer(subscription)
        pull = await self.js().pull_subscribe_bind(
            subscription.durable, stream=subscription.stream
        )
        # One batch is fetched while the one before is being stored, so the
        # round trip to the server overlaps the transaction instead of following
        # it. Order is kept: batches are handled one after the other.
        fetched: asyncio.Queue[list[Msg]] = asyncio.Queue(maxsize=1)
        fetcher = asyncio.create_task(self._fetch_ahead(pull, subscription, fetched))
        try:
            while not stopping.is_set():
                try:
                    batch = await asyncio.wait_for(fetched.get(), timeout=1.0)
                except TimeoutError:
                    if fetcher.done():
                        fetcher.result()  # raises what stopped the fetching
                    continue
                await self._handle_or_wait(subscription.durable, batch)
        finally:
            fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetcher
            # A batch fetched but not handled goes back at once rather than
            # after the ack wait.
            while not fetched.empty():
                for msg in fetched.get_nowait():
                    with contextlib.suppress(Exception):
                        await msg.nak()
            # An open pull subscription would hold up the connection's drain.
            await pull.unsubscribe()

    async def _handle_or_wait(self, consumer: str, batch: list[Msg]) -> None:
        """Handle a batch; if even parking or acking fails (NATS away), hand the
        batch back and carry on, so a passing outage never ends the consumer."""
        try:
            await self.handle_batch(consumer, batch)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.warning(
                "%s: batch of %d handed back (%s)",
                consumer,
                len(batch),
                type(error).__name__,
            )
            for msg in batch:
                # Acked messages ignore this; the rest come back after a pause.
                with contextlib.suppress(Exception):
                    await msg.nak(delay=backoff_seconds(1))
            await asyncio.sleep(1.0)

    async def _fetch_ahead(
        self,
        pull: JetStreamContext.PullSubscription,
        subscription: Subscription,
        fetched: asyncio.Queue[list[Msg]],
    ) -> None:
        while True:
            try:
                batch = await pull.fetch(self.batch_size, timeout=1.0)
            except TimeoutError:
                continue
            except Exception as error:
                logger.warning(
                    "%s: fetch failed (%s)",
                    subscription.durable,
                    type(error).__name__,
                )
                await asyncio.sleep(1.0)
                continue
            try:
                await fetched.put(batch)
            except asyncio.CancelledError:
                for msg in batch:
                    with contextlib.suppress(Exception):
                        await msg.nak()
                raise

    async def handle_batch(self, consumer: str, batch: list[Msg]) -> None:
        ready: list[tuple[Msg, Incoming]] = []
        for msg in batch:
            try:
                ready.append((msg, self.parse(msg)))
            except (ContractError, Rejected) as error:
                await self.dead_letter(consumer, msg, str(error))
        if not ready:
            return
        try:
            await asyncio.to_thread(self._process, [incoming for _, incoming in ready])
        except Exception as error:
            logger.warning(
                "%s: batch of %d failed (%s); retrying one by one",
                consumer,
                len(ready),
                type(error).__name__,
            )
            await self._one_by_one(consumer, ready)
            return
        # One at a time: an ack only queues a few bytes on the connection,
        # cheaper than the task each that gather would make.
        for msg, _ in ready:
            await msg.ack()
        self.processed += len(ready)

    def _process(self, messages: list[Incoming]) -> None:
        done = self.handler.tracked([incoming.key for incoming in messages])
        fresh: list[Incoming] = []
        for incoming in messages:
            # The same message twice in one batch counts once, as across batches.
            if incoming.key not in done:
                done.add(incoming.key)
                fresh.append(incoming)
        if fresh:
            self.handler.process(fresh)

    async def _one_by_one(
        self, consumer: str, ready: list[tuple[Msg, Incoming]]
    ) -> None:
        for msg, incoming in ready:
            try:
                await asyncio.to_thread(self._process, [incoming])
            except Rejected as error:
                await self.dead_letter(consumer, msg, str(error))
                continue
            except DATABASE_AWAY as error:
                logger.warning(
                    "%s: will retry after %s", consumer, type(error).__name__
                )
                await msg.nak(delay=backoff_seconds(msg.metadata.num_delivered))
                continue
            except LOST_RACE as error:
                attempts = self.max_attempts * RACE_PATIENCE
                await self._failed(consumer, msg, error, attempts)
                continue
            except Exception as error:
                await self._failed(consumer, msg, error)
                continue
            await msg.ack()
            self.processed += 1

    async def _failed(
        self, consumer: str, msg: Msg, error: Exception, attempts: int | None = None
    ) -> None:
        deliveries = msg.metadata.num_delivered
        attempts = attempts or self.max_attempts
        # Only the error's type: its text may quote the data being processed.
        logger.warning(
            "%s: message %s failed on delivery %d (%s)",
            consumer,
            msg.metadata.sequence.stream,
            deliveries,
            type(error).__name__,
        )
        if deliveries >= attempts:
            reason = (
                f"handler failed {deliveries} times, last with {type(error).__name__}"
            )
            await self.dead_letter(consumer, msg, reason)
        else:
            await msg.nak(delay=backoff_seconds(deliveries))

    async def dead_letter(self, consumer: str, msg: Msg, reason: str) -> None:
        """Park the message with its reason, then ack it so the rest flow on."""
        sequence = msg.metadata.sequence.stream
        stream = msg.metadata.stream
        headers = {
            "Nats-Msg-Id": f"dead:{consumer}:{stream}:{sequence}",
            HEADER_REASON: reason[:2000],
            HEADER_ORIGINAL_SUBJECT: msg.subject,
            HEADER_ORIGINAL_SEQUENCE: f"{stream}:{sequence}",
            HEADER_CONSUMER: consumer,
        }
        await self.js().publish(
            f"deadletter.{self.service}.{consumer}", msg.data, headers=headers
        )
        await msg.ack()
        self.dead_lettered += 1
        logger.warning(
            "%s: parked %s:%s in the dead-letter stream: %s",
            consumer,
            stream,
            sequence,
            reason,
        )
