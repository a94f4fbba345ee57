"""The data layer: `DataLoader` with its replaceable hooks, collation, and the `DataLoaders` container."""
