"""The one exception type for bad user input; entry points print it as one line."""


class ConfigError(ValueError):
    """A configuration or input error, reported as one line before any compilation."""


def one_line(exc: BaseException, lines: int = 1) -> str:
    """The first `lines` non-empty lines of an exception's message, joined by '; '."""
    parts = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(parts[:lines]) if parts else type(exc).__name__
