"""teamgate: a self-hosted AI gateway for small teams."""

__version__ = "0.1.0"
