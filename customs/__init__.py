"""Customs: declarations, single-window permits, risk channels, release into monitored transits."""
