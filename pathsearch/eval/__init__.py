"""Retrieval and segmentation metrics."""
