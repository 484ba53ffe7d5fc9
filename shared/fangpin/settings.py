"""Settings every service reads from its environment (pydantic-settings).

With nothing set, ``fangpin run`` starts private servers and passes their addresses
and the generated secrets to each service through these same variables.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", alias="NATS_URL")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres", alias="DATABASE_URL"
    )
    data_dir: Path = Field(default=Path(".fangpin-data"), alias="FANGPIN_DATA_DIR")
    jwt_secret: str = Field(default="", alias="FANGPIN_JWT_SECRET")
    jwt_issuer: str = Field(default="fangpin-dev", alias="FANGPIN_JWT_ISSUER")
    jwt_audience: str = Field(default="fangpin", alias="FANGPIN_JWT_AUDIENCE")
    dev_issuer: bool = Field(default=False, alias="FANGPIN_DEV_ISSUER")
    cipher_key: str = Field(default="", alias="FANGPIN_CIPHER_KEY")
    pseudonym_key: str = Field(default="", alias="FANGPIN_PSEUDONYM_KEY")
    stream_replicas: int = Field(default=1, alias="FANGPIN_STREAM_REPLICAS")
    batch_size: int = Field(default=500, alias="FANGPIN_BATCH_SIZE")
    max_attempts: int = Field(default=5, alias="FANGPIN_MAX_ATTEMPTS")
    ack_wait_seconds: float = Field(default=60.0, alias="FANGPIN_ACK_WAIT")
    pool_size: int = Field(default=5, alias="FANGPIN_DB_POOL_SIZE")
    deadline_interval: float = Field(default=60.0, alias="FANGPIN_DEADLINE_INTERVAL")
    host: str = Field(default="127.0.0.1", alias="FANGPIN_HOST")
    port: int = Field(default=0, alias="FANGPIN_PORT")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def postgres_env(database_url: str, schema: str) -> dict[str, str]:
    """Translate a DATABASE_URL into the ``eventsourcing`` library's variables.

    A host given as ``?host=/some/dir`` (a Unix socket, as the embedded server
    uses) is honoured as psycopg does.
    """
    url = urlparse(database_url)
    query = parse_qs(url.query)
    host = query.get("host", [url.hostname or "127.0.0.1"])[0]
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": (url.path or "/postgres").lstrip("/") or "postgres",
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_SCHEMA": schema,
    }
