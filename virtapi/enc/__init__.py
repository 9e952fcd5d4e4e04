"""Puppet views of the node document: ENC classification and Hiera data."""

from virtapi.enc.render import CLASS_PARAMETERS, enc_view, hiera_escape, hiera_view

__all__ = ["CLASS_PARAMETERS", "enc_view", "hiera_escape", "hiera_view"]
