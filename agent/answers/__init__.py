"""Answers from the operator's knowledge file: loading it, finding the fact behind a
question, saying it, and guarding what is said (one job a module)."""
