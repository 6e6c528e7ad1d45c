"""Datagrams: the Tag and Packet of each row of a stream."""

from __future__ import annotations

from orcapod.core.datagrams._datagram import Datagram, Packet, PythonRowBlock, RowBlock, Tag

__all__ = ["Datagram", "Packet", "PythonRowBlock", "RowBlock", "Tag"]
