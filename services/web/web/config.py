"""Where the web process finds the five services, and how it serves itself."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("intake", "screening", "casework", "assistance", "reporting")


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    intake_url: str = Field(default="http://127.0.0.1:8101", alias="FANGPIN_INTAKE_URL")
    screening_url: str = Field(
        default="http://127.0.0.1:8102", alias="FANGPIN_SCREENING_URL"
    )
    casework_url: str = Field(
        default="http://127.0.0.1:8103", alias="FANGPIN_CASEWORK_URL"
    )
    assistance_url: str = Field(
        default="http://127.0.0.1:8104", alias="FANGPIN_ASSISTANCE_URL"
    )
    reporting_url: str = Field(
        default="http://127.0.0.1:8105", alias="FANGPIN_REPORTING_URL"
    )
    host: str = Field(default="127.0.0.1", alias="FANGPIN_HOST")
    port: int = Field(default=0, alias="FANGPIN_PORT")
    secure_cookies: bool = Field(
        default=False,
        alias="FANGPIN_WEB_SECURE_COOKIES",
        description="mark cookies Secure (set it when served over HTTPS)",
    )
    timeout_seconds: float = Field(default=15.0, alias="FANGPIN_WEB_TIMEOUT")

    def service_urls(self) -> dict[str, str]:
        return {
            name: str(getattr(self, f"{name}_url")).rstrip("/") for name in SERVICES
        }


@lru_cache
def get_web_settings() -> WebSettings:
    return WebSettings()
