"""WSGI entry point for gunicorn: `gunicorn app:app`."""

from gatekeeper.service.web import create_app

app = create_app()
