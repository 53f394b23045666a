"""Telemedicine platform for custody facilities."""

__version__ = "0.1.0"
