"""The regional deployment: compose.yaml, each service's configuration, and debian.py (the same from Debian's packages)."""
