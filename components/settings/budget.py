"""The project budget (Cloud Billing)."""

from __future__ import annotations

from dataclasses import dataclass

from components import checks, grammars
from stackconfig.reader import setting


@dataclass(frozen=True)
class BudgetSettings:
    billing_account: str | None = setting(
        None, doc="Billing account (XXXXXX-XXXXXX-XXXXXX) for a project budget. Unset: no budget.",
        check=checks.matches(checks.BILLING_ACCOUNT, "a billing account id XXXXXX-XXXXXX-XXXXXX"))
    amount: int = setting(10, check=checks.in_range(1, 1_000_000), doc="Monthly budget, in whole currency units.")
    currency: str = setting("USD", check=grammars.currency,
                            doc="Currency of the amount (the billing account's).")
