"""The public trust surface: a signed sub-processor feed and a trust page."""
