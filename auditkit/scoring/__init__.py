"""Scores to figures: score matrices, blocked identity search, statistics (Wilson intervals,
advantage), identification metrics, table risk measures and the risk policy."""
