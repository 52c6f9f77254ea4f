"""Small utilities: logging."""
