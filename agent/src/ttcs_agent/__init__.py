"""ttcs-agent: the reference loudspeaker agent of Thông tin cơ sở (docs/device-protocol.md)."""

__version__ = "0.1.0"
