"""A relay that is killed (SIGKILL) after JetStream acknowledged a batch and before
it records its position: the worst moment. Run as a separate process by the tests.
"""

from __future__ import annotations

import asyncio
import os
import signal

import nats

from fangpin.relay import OutboxRelay
from fangpin.settings import Settings
from intake.application import IntakeApplication


class KilledBeforeRecording(OutboxRelay):
    saves = 0

    def save_position(self, notification_id: int) -> None:
        KilledBeforeRecording.saves += 1
        if KilledBeforeRecording.saves >= int(os.environ["KILL_AT_SAVE"]):
            os.kill(os.getpid(), signal.SIGKILL)
        super().save_position(notification_id)


async def main() -> None:
    settings = Settings()
    app = IntakeApplication(settings, pseudonym_key=settings.pseudonym_key)
    client = await nats.connect(settings.nats_url)
    relay = KilledBeforeRecording(app, client.jetstream(), batch_size=20)
    relay.load_position()
    while await relay.run_once():
        pass


if __name__ == "__main__":
    asyncio.run(main())
