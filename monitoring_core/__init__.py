"""Shared library of the services: settings, messages, clients, database, web, analytics."""
