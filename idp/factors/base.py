"""What every factor shares: the verification result and the error family."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verification:
    """A successful second-factor step: which factor, the event method, its amr values."""

    factor_id: int | None
    method: str
    amr: tuple[str, ...]


class FactorError(Exception):
    """A verification did not succeed; ``str(error)`` is the message for the person."""


class WrongCode(FactorError):
    def __init__(self) -> None:
        super().__init__("That code is not right. Check it and try again.")


class CodeReused(FactorError):
    def __init__(self) -> None:
        super().__init__("That code was already used. Wait for the next one.")


class ChallengeExpired(FactorError):
    def __init__(self) -> None:
        super().__init__("This step took too long and expired. Start it again.")


class ChallengeUsed(FactorError):
    def __init__(self) -> None:
        super().__init__("This step was already completed. Start it again if needed.")


class ChallengeFailed(FactorError):
    def __init__(self) -> None:
        super().__init__("Too many wrong answers for this step. Start it again.")


class CoolingDown(FactorError):
    """Exponential back-off after repeated failures; ``until`` is when to try again."""

    def __init__(self, until: int) -> None:
        self.until = until
        super().__init__("Too many failed attempts. Please wait before trying again.")


class FactorLocked(FactorError):
    def __init__(self) -> None:
        super().__init__(
            "This method is locked after too many failed attempts. Use another method, "
            "or ask an administrator to unlock it."
        )
