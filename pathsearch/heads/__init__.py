"""Few-shot heads: tile classification and tissue segmentation from a handful of labelled examples."""
