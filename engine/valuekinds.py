"""The three kinds of value a formula reads: numbers (with a dimension), booleans, and choices."""

NUM, BOOL, ENUM = "number", "boolean", "enum"
