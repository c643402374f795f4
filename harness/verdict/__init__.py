"""Judging one (case, impl, grad): status, test ids, the expected values, known discrepancies, limitations, diagnosis, the facts they match on."""
