"""Settings of the read API (RETRIEVAL_*): page sizes, in series and in runs of run=history."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from monitoring_core.params import Limits
from monitoring_core.settings import settings_config


class RetrievalSettings(BaseSettings):
    """How much one request may read."""

    model_config = settings_config("RETRIEVAL_")

    history_default_limit: int = Field(10, ge=1, le=1000)
    history_max_limit: int = Field(100, ge=1, le=1000)
    page_default_limit: int = Field(100, ge=1, le=10_000)
    page_max_limit: int = Field(1000, ge=1, le=10_000)

    @property
    def limits(self) -> Limits:
        return Limits(
            history_default=self.history_default_limit,
            history_max=self.history_max_limit,
            page_default=self.page_default_limit,
            page_max=self.page_max_limit,
        )
