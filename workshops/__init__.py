"""Workshops: live rooms a facilitator opens for a class, with a projector dashboard."""
