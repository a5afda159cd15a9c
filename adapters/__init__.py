"""All I/O with the outside world. Nothing here imports Textual or Rich."""
