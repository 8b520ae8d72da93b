"""Controllers: the processor's enterprise clients (GDPR Art. 4(7)), the
registry's tenants. Staff register them; a controller maintains its own
contact details (Art. 30(2)(a) needs them current)."""
