"""The HTTP server: REST and an OpenAI-compatible chat endpoint over one workspace."""

from .app import create_app

__all__ = ["create_app"]
