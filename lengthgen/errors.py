"""The one exception type for bad user input; entry points print it as one line."""


class ConfigError(ValueError):
    """A configuration or input error, reported as one line before any compilation."""
