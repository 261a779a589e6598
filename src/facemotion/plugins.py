"""What the [train] extra adds to the core, found by name through entry points (the ``.pt``
classifier backend, the Grad-CAM explainers), so no core module imports the training wing."""

from __future__ import annotations

from .errors import ModelError


def load_entry_point(group: str, name: str, who: str):
    """The object that entry point ``name`` of ``group`` names, or None when none has that
    name; one that cannot be imported (the extra is not installed) is a ModelError beginning
    with ``who`` ("x.pt: .pt models need", "gradcam needs")."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=group):
        if ep.name == name:
            try:
                return ep.load()
            except ImportError as e:
                raise ModelError(f"{who} the [train] extra ({e.name or e} is not installed): "
                                 "pip install 'facemotion[train]'") from None
    return None
