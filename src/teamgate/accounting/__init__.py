"""Accounting: prices, budgets, rate-limit counters and the usage ledger."""
