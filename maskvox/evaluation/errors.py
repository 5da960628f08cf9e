"""The evaluator's kinds of user error (each a one-line message; the CLI exits with 2)."""

from ..errors import ModelNotAvailableError, UserError


class EvalInputError(UserError):
    """A list or results file that cannot be read, or a line in it that does not fit."""


class UnknownScorerError(UserError):
    """An ASR or speaker model name that is not in the registry (the message lists the names)."""


class ScorerUnavailableError(ModelNotAvailableError):
    """A named scorer whose weights or package are not here (the message says what to get)."""
