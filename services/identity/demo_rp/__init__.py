"""A tiny montreal.ca-style relying party for ``mtlid up``: shows the code flow working."""
