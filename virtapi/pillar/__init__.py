"""Salt view of the node document."""

from virtapi.pillar.render import pillar_view

__all__ = ["pillar_view"]
