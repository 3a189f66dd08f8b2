"""Safe-RULE unlearning: the shared objective, the mixin, and the stage that runs it."""
