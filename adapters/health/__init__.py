"""Health adapter: no Textual imports; see the modules."""
