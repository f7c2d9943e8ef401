"""The variance report: presented as terminal text, Markdown, HTML and JSON."""
