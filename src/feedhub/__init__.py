"""feedhub: a self-hosted RSS/Atom aggregator and publisher of curated feeds."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/feedhub/feedhub"
USER_AGENT = f"feedhub/{__version__} (+{PROJECT_URL})"
