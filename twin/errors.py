"""Errors a user can act on: which file, which key, what was expected."""

from __future__ import annotations


class TwinError(Exception):
    """Base class for errors twin reports to users without a traceback."""


class ScenarioError(TwinError):
    """Invalid input: a scenario, profile or model that cannot be used as given.

    Parameters
    ----------
    message : str
        What was wrong and what was expected.
    file : str, optional
        The file the problem is in.
    key_path : str, optional
        Dotted path of the offending key (``groups.soil.sampling_period_s``).
    line : int, optional
        1-based line in ``file`` where the YAML parser located the key.

    Attributes
    ----------
    more : tuple of ScenarioError
        Further problems found in the same pass (a file with several mistakes), in file order.
    """

    def __init__(
        self,
        message: str,
        file: str | None = None,
        key_path: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.key_path = key_path
        self.line = line
        self.more: tuple[ScenarioError, ...] = ()
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        if self.key_path:
            where += f": {self.key_path}"
        return f"{where}: {self.message}"
