"""What Hetzner Cloud offers and what Mailcow needs of it."""

from __future__ import annotations

#: Hetzner Cloud server types and their memory and disk in GB.
SERVER_TYPES: dict[str, tuple[int, int]] = {
    "cx22": (4, 40), "cx32": (8, 80), "cx42": (16, 160), "cx52": (32, 320),
    "cx23": (4, 40), "cx33": (8, 80), "cx43": (16, 160), "cx53": (32, 320),
    "cpx11": (2, 40), "cpx21": (4, 80), "cpx31": (8, 160), "cpx41": (16, 240), "cpx51": (32, 360),
    "cpx12": (2, 40), "cpx22": (4, 80), "cpx32": (8, 160), "cpx42": (16, 320), "cpx52": (24, 480),
    "cpx62": (32, 640),
    "cax11": (4, 40), "cax21": (8, 80), "cax31": (16, 160), "cax41": (32, 320),
    "ccx13": (8, 80), "ccx23": (16, 160), "ccx33": (32, 240), "ccx43": (64, 360), "ccx53": (128, 600),
    "ccx63": (192, 960),
}
LOCATIONS = ("fsn1", "nbg1", "hel1", "ash", "hil", "sin")
IMAGES = ("debian-12", "ubuntu-22.04")
#: Mailcow needs 6 GiB plus swap; ClamAV is the part that pushes it past 4 GB.
MIN_MEMORY_GB = 6
#: Below this Mailcow runs, but has no headroom for growth or updates.
RECOMMENDED_MEMORY_GB = 8
#: Share of the disk mailbox quotas may fill; the rest is the OS, Docker images and logs.
USABLE_DISK_SHARE = 0.8
