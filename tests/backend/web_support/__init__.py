"""Helpers for the web page's browser test: the wallet stand-in injected into the page and a
small generated image to draw boxes on."""
