"""Credit-information sharing gateway."""
