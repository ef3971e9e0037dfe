"""rxrank."""
