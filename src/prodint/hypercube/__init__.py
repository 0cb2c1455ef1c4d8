"""HyperCube: is an operation table a group, and what is its representation."""
