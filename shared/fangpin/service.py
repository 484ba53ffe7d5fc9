"""What every service shares at run time: the HTTP app, the NATS connections,
the relay and the inbox, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import nats
import psycopg
import uvicorn
from eventsourcing import persistence
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from nats.aio.client import Client
from nats.js import JetStreamContext

from fangpin.auth import dev_issuer
from fangpin.eventstore import ServiceApplication
from fangpin.inbox import BatchHandler, Inbox
from fangpin.relay import OutboxRelay
from fangpin.settings import Settings, get_settings
from fangpin.streams import ensure_streams

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A command that cannot be carried out; mapped to a 4xx with its reason."""

    status_code = 422

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Forbidden(DomainError):
    status_code = 403


#: How often a command that lost a race is run again before the person is asked
#: to reload: background events rarely touch one record more than twice in a row.
COMMAND_ATTEMPTS = 4


class RetryLostRace(APIRoute):
    """Runs a command again when it lost an optimistic-concurrency race.

    The inbox records upstream events on the same aggregates officials act on
    (an aid grant lands on the case an official is closing). The command read the
    aggregate a moment too early; reading it again and re-deciding is exactly what
    the official would do after a reload, so the service does it for them. The
    body is cached on the request, so the second run sees the same input.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def retrying(request: Request) -> Response:
            for attempt in range(1, COMMAND_ATTEMPTS):
                try:
                    return await handler(request)
                except persistence.IntegrityError:
                    await asyncio.sleep(0.02 * attempt)
            return await handler(request)

        return retrying


class Runtime:
    """A service's connections and background tasks."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        app: ServiceApplication | None = None,
        handler: BatchHandler | None = None,
    ):
        self.name = name
        self.settings = settings
        self.app = app
        self.nc: Client | None = None
        self.relay: OutboxRelay | None = None
        self.inbox = (
            Inbox(
                self.jetstream,
                name,
                handler,
                batch_size=settings.batch_size,
                max_attempts=settings.max_attempts,
                ack_wait_seconds=settings.ack_wait_seconds,
            )
            if handler is not None
            else None
        )
        self.followers: list[Any] = []
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def jetstream(self) -> JetStreamContext:
        assert self.nc is not None, "runtime not started"
        return self.nc.jetstream(timeout=10)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.nc = await nats.connect(
            self.settings.nats_url, max_reconnect_attempts=-1, name=self.name
        )
        await ensure_streams(self.jetstream(), self.settings.stream_replicas)
        if self.app is not None:
            self.relay = OutboxRelay(
                self.app, self.jetstream(), self.settings.batch_size
            )
            self._tasks.append(asyncio.create_task(self.relay.run(self._stopping)))
        for follower in self.followers:
            self._tasks.append(asyncio.create_task(follower.run(self._stopping)))
        if self.inbox is not None:
            for subscription in self.inbox.subscriptions:
                self._tasks.append(
                    asyncio.create_task(self.inbox.run(subscription, self._stopping))
                )
        logger.info("%s started", self.name)

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, 5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        try:
            if self.nc is not None:
                await self.nc.drain()
        except Exception as error:
            # NATS already gone: nothing is left to flush, unacked messages are
            # delivered again; the database still has to be let go.
            logger.warning("NATS drain failed on stop (%s)", type(error).__name__)
        finally:
            if self.app is not None:
                self.app.close()

    def committed(self) -> None:
        """Tell the relay, from any thread, that new events wait to be published."""
        if self._loop is None:
            return
        if self.relay is not None:
            self._loop.call_soon_threadsafe(self.relay.wake)
        for follower in self.followers:
            self._loop.call_soon_threadsafe(follower.wake)


def _problem(item: dict[str, Any]) -> dict[str, str]:
    """One validation problem as a field and a reason a person can act on."""
    if item["type"] == "json_invalid":
        # The location is a character offset into the body, not a field.
        where = item["loc"][-1]
        decoder = item.get("ctx", {}).get("error", "")
        return {
            "field": "body",
            "reason": f"the body is not valid JSON ({decoder} at character {where})",
        }
    return {
        "field": ".".join(str(part) for part in item["loc"][1:]) or "body",
        "reason": item["msg"],
    }


async def invalid_request(_: Request, error: Exception) -> JSONResponse:
    """A 422 naming each field and its reason, and nothing of what was sent:
    echoing the input could repeat personal data."""
    assert isinstance(error, RequestValidationError)
    problems = [_problem(item) for item in error.errors()]
    return JSONResponse(status_code=422, content={"detail": problems})


def _error(status_code: int, reason: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": reason}
    if field:
        body["field"] = field
    return JSONResponse(status_code=status_code, content=body)


def create_http_app(
    runtime: Runtime, title: str, description: str, routers: list[Any]
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    http = FastAPI(title=title, description=description, lifespan=lifespan)
    http.state.runtime = runtime
    if runtime.settings.dev_issuer:
        http.include_router(dev_issuer)
    for router in routers:
        http.include_router(router)

    @http.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        return _error(error.status_code, error.reason, error.field)

    http.add_exception_handler(RequestValidationError, invalid_request)

    @http.exception_handler(persistence.IntegrityError)
    async def lost_race(_: Request, error: Exception) -> JSONResponse:
        return _error(
            409, "someone else changed this record at the same time; reload and retry"
        )

    @http.exception_handler(persistence.OperationalError)
    @http.exception_handler(persistence.InterfaceError)
    @http.exception_handler(psycopg.OperationalError)
    async def database_away(_: Request, error: Exception) -> JSONResponse:
        response = _error(503, "the database is not reachable; try again shortly")
        response.headers["Retry-After"] = "5"
        return response

    @http.get("/health", tags=["operations"])
    async def health() -> dict[str, Any]:
        relay = runtime.relay
        inbox = runtime.inbox
        return {
            "service": runtime.name,
            "nats": bool(runtime.nc and runtime.nc.is_connected),
            "relay_position": relay.position if relay else None,
            "processed": inbox.processed if inbox else None,
            "dead_lettered": inbox.dead_lettered if inbox else None,
        }

    return http


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def require_secrets(settings: Settings) -> None:
    """Refuse to start without the keys: an empty cipher key would store personal
    data in clear, an empty pseudonym key would make ID hashes guessable."""
    missing = [
        name
        for name, value in (
            ("FANGPIN_JWT_SECRET", settings.jwt_secret),
            ("FANGPIN_CIPHER_KEY", settings.cipher_key),
            ("FANGPIN_PSEUDONYM_KEY", settings.pseudonym_key),
        )
        if not value
    ]
    if missing:
        raise SystemExit(
            f"missing settings: {', '.join(missing)}; `fangpin run` generates them "
            "for the embedded mode, deploy/README.md says how to set them elsewhere"
        )


def serve(build: Callable[[Settings], FastAPI], default_port: int) -> None:
    """Entry point of a service process."""
    configure_logging()
    settings = get_settings()
    require_secrets(settings)
    http = build(settings)
    uvicorn.run(
        http,
        host=settings.host,
        port=settings.port or default_port,
        log_level="warning",
        access_log=False,
    )


def not_found(what: str) -> HTTPException:
    return HTTPException(404, detail=f"{what} not found in your area")
