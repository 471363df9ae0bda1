"""Network definitions: one file per published network, state dicts identical to the official checkpoints."""
