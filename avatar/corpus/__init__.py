"""Synthetic dyadic conversation corpus: speech, turn-taking, motion rules, dataset."""
