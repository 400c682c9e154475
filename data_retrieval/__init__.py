"""Data retrieval: the read API over the stored results, served by gunicorn."""

from data_retrieval.app import create_app

__all__ = ["create_app"]
