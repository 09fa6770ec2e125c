"""Value types: instruments, tiers, sides and modes, errors. No arithmetic policy lives here."""
