"""Deterministic loyalty accounts for the demo customers (`cus_0001`, ...).

Each account follows from its customer id alone (a hash, not a random stream), so the same
customer has the same points whatever else the demo set holds. Every tenth customer is not
enrolled, so the demo shows `loyalty: null` too; `cus_0001`, the customer the tests and the
README sign in as, is a Gold member with points to spend.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol

from datasources.erp.loyalty import Enrollment

_NUMBERED = re.compile(r"^cus_(\d+)$")
# Lifetime points spread over the tiers: most members Bronze or Silver, a few Platinum.
_LIFETIME_BANDS = (0, 150, 600, 1200, 2500, 4000, 6000, 9000, 15000, 26000)
FEATURED = Enrollment("cus_0001", points=2500, lifetime_points=6200)


class Enrolling(Protocol):
    async def enroll(self, enrollments: Sequence[Enrollment]) -> None: ...


def demo_accounts(customer_ids: Sequence[str]) -> tuple[Enrollment, ...]:
    """The demo enrollment of each customer that has one, in the order given."""
    accounts: list[Enrollment] = []
    for customer_id in customer_ids:
        if customer_id == FEATURED.customer_id:
            accounts.append(FEATURED)
            continue
        numbered = _NUMBERED.match(customer_id)
        if numbered is not None and int(numbered.group(1)) % 10 == 0:
            continue
        digest = hashlib.sha256(f"loyalty:{customer_id}".encode()).digest()
        band = _LIFETIME_BANDS[digest[0] % len(_LIFETIME_BANDS)]
        lifetime = band + int.from_bytes(digest[1:3], "big") % 500
        spent_share = digest[3] / 255  # how much of what they earned they have spent
        points = int(lifetime * (1 - 0.8 * spent_share))
        accounts.append(Enrollment(customer_id, points=points, lifetime_points=lifetime))
    return tuple(accounts)


async def seed_loyalty(source: Enrolling, customer_ids: Sequence[str]) -> int:
    """Enroll the demo accounts of `customer_ids`; existing accounts are left alone (a
    restarted demo keeps what was redeemed). Returns how many accounts the demo defines."""
    accounts = demo_accounts(customer_ids)
    for start in range(0, len(accounts), 500):
        await source.enroll(accounts[start : start + 500])
    return len(accounts)
