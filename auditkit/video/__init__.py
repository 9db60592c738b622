"""Clips in a release: people, their tracks and every cue (appearance, gait, faces), fused."""
