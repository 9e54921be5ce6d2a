"""cytube-economy: the kernel (config, ledger, clock, bus, router, plugin manager, metrics)."""
