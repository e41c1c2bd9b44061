"""Folium pages for the operations control center, served by api/."""
