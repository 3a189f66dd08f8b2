"""The data side: generated DSRL-format datasets, the attacks, and their gymnasium ids."""
