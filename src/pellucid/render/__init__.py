"""Renderers: terminal (rich) and standalone HTML for every Explanation."""
