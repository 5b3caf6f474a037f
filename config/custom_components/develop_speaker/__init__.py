"""A media player for scripts/develop that keeps what it is sent (development only)."""
