"""Built-in portfolios from the seeds (``isocross simulate --example NAME``) and where the real
market data they replay is found.

The examples (``src/isocross/sim/examples/*.toml``) name data files relative to the **data root**,
the folder holding the public Binance files (``shared/data`` beside the checkout; its README says
where each file comes from). The root is, in order: ``--data-dir``, the ``ISOCROSS_DATA``
environment variable, or the first ``shared/data`` found walking up from the working directory
and from this package. Nothing is copied into the repository.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path

from isocross.sim.errors import SimInputError
from isocross.sim.spec import Portfolio, parse_portfolio

ENV = "ISOCROSS_DATA"


def examples() -> tuple[str, ...]:
    """Names of the built-in portfolios."""
    folder = resources.files(__package__).joinpath("examples")
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def find_data_root(explicit: Path | None = None) -> Path | None:
    """The data root (see the module docstring), or ``None`` if there is none."""
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV)
    if env:
        return Path(env)
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "data"
            if (candidate / "README.md").is_file():
                return candidate
    return None


def load_example(name: str, data_dir: Path | None = None) -> Portfolio:
    """Parse the built-in portfolio ``name`` with its data paths under the data root."""
    if name not in examples():
        raise SimInputError(
            "--example", f"unknown example {name!r}; known: {', '.join(examples())}"
        )
    text = (
        resources.files(__package__)
        .joinpath("examples")
        .joinpath(f"{name}.toml")
        .read_text("utf-8")
    )
    data = tomllib.loads(text)
    scripted = data.get("market", {}).get("kind") == "scripted"
    root = find_data_root(data_dir)
    if root is None and not scripted:
        raise SimInputError(
            "--example",
            f"{name} replays real Binance data kept outside the repository (shared/data); "
            f"pass --data-dir DIR or set {ENV}",
        )
    if root is not None and not scripted and not root.is_dir():
        raise SimInputError("--data-dir", f"no such folder: {root}")
    return parse_portfolio(data, base_dir=root or Path.cwd(), name=name)
