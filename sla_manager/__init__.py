"""SLA manager: allowed ranges per metric, past violations and warnings before they happen."""

from sla_manager.app import create_app

__all__ = ["create_app"]
