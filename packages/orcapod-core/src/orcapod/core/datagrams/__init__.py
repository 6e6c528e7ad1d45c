"""Datagrams: the Tag and Packet of each row of a stream."""

from __future__ import annotations

from orcapod.core.datagrams._datagram import Datagram, Packet, RowBlock, Tag

__all__ = ["Datagram", "Packet", "RowBlock", "Tag"]
