"""One package per payment provider, each behind the seam of ``payments.provider``."""
