"""`make bench`: the v2 budgets of the product spec (section 7), measured and printed. See run.py."""
