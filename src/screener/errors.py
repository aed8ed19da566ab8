"""Exceptions raised by the screener library.

The library never prints or exits: it raises one of these, and each adapter
(the CLI, the batch runner, the service) turns them into its own kind of error.
Every message is one line a person can act on.
"""

from __future__ import annotations


class ScreenerError(Exception):
    """Base class of every error the screener raises on purpose."""


class KnowledgeError(ScreenerError):
    """A knowledge file is missing, unreadable or inconsistent."""

    def __init__(self, problem: str, file: str | None = None, line: int | None = None):
        self.problem = problem
        self.file = file
        self.line = line
        where = file or ""
        if file and line is not None:
            where = f"{file}:{line}"
        super().__init__(f"{where}: {problem}" if where else problem)


class InputError(ScreenerError):
    """A patient input (medication, condition, allergy, age) cannot be screened as given."""


class UnknownConceptError(ScreenerError):
    """A name asked about (e.g. by `screener explain`) is not in the knowledge base."""

    def __init__(self, name: str, suggestions: tuple[str, ...] = (), why: str = ""):
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        what = f"is not read as a concept: {why}" if why else "is not in the knowledge base"
        super().__init__(f"'{name}' {what}.{hint}")


class MissingExtraError(ScreenerError):
    """A feature needs a package of an optional extra that is not installed (see `screener.extras`)."""

    def __init__(self, feature: str, module: str, extra: str):
        self.feature = feature
        """What was asked for, as a person would say it: "check --fhir", "screener serve"."""
        self.module = module
        """The missing top-level package, as imported: "fhir.resources", "fastapi"."""
        self.extra = extra
        """The extra that brings it: `pip install 'screener[<extra>]'`."""
        super().__init__(f"{feature} needs {module}, which is not installed: pip install 'screener[{extra}]'")
