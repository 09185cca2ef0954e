"""Build errors. Each carries a message a contributor can act on; only the CLI turns them into exit codes."""
from __future__ import annotations

from modelshelf.catalog.problems import Problem


class BuildError(Exception):
    """Raised by the build when the catalog cannot be turned into a site; nothing has been written."""


class CatalogInvalid(BuildError):
    """Raised by the build when cards have problems; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the catalog")


class RecipeError(BuildError):
    """Raised when a model's recipe fails, times out, or does not write model.onnx."""


class VendorError(BuildError):
    """Raised when a browser library the site needs is missing from node_modules."""
