"""Settings of the read API (RETRIEVAL_*): page sizes of run=history."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from monitoring_core.settings import settings_config


class RetrievalSettings(BaseSettings):
    """How much one request may read."""

    model_config = settings_config("RETRIEVAL_")

    history_default_limit: int = Field(10, ge=1, le=1000)
    history_max_limit: int = Field(100, ge=1, le=1000)
