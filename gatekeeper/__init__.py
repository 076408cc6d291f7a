"""Gatekeeper: guards the merge button against unreviewed work by AI coding agents."""

__version__ = "0.1.0"
