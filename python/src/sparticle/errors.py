"""Exceptions raised by sparticle, mirroring the CLI's exit codes (README, "Exit codes")."""

from __future__ import annotations


class SparticleError(Exception):
    """Any Sparticle failure.

    ``exit_code`` is the name of the exit code the CLI would give for the same failure
    (``INTERNAL_ERROR``, ``USAGE``, ``BAD_INPUT``, ``IO_FAILURE``, ``OUT_OF_MEMORY``).
    """

    exit_code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, exit_code: str | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class CheckpointError(SparticleError):
    """A checkpoint (input or compressed) is malformed, incomplete, corrupt or not understood.

    The message names the file and, where one applies, the tensor. ``reason`` is the Java
    ``CheckpointFormatException.Reason`` name (e.g. ``INVALID_COMPRESSED``, ``DATA_PAST_EOF``);
    branch on it, never on the message.
    """

    exit_code = "BAD_INPUT"

    def __init__(self, message: str, *, reason: str, file: str | None = None,
                 tensor: str | None = None, exit_code: str | None = None):
        super().__init__(message, exit_code=exit_code)
        self.reason = reason
        self.file = file
        self.tensor = tensor


class ConfigError(SparticleError, ValueError):
    """A bad option, config key or value, or a misuse (e.g. a non-empty output without overwrite)."""

    exit_code = "USAGE"


class SparticleIOError(SparticleError, OSError):
    """Reading or writing storage failed (including a missing input)."""

    exit_code = "IO_FAILURE"


class SparkSetupError(SparticleError, RuntimeError):
    """The Spark session cannot run Sparticle: no JVM gateway (Spark Connect) or no job jar."""

    exit_code = "USAGE"
