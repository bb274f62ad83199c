"""Hydra's way for a package outside bnnbench to add its config folder to the search path."""

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class ToyBNNSearchPath(SearchPathPlugin):
    """Appends the toy components' config folder."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="toy_bnn", path=f"file://{Path(__file__).parents[2] / 'toy_conf'}")
