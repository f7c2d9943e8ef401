"""Presentations of a tree and its results for people: terminal, Markdown, HTML."""
