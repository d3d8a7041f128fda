"""coldmail's CrossGuard policy pack: the rules live in :mod:`policy.policies`; ``__main__`` serves them."""
