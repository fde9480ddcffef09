"""Cohort-scale runs: one task per slide on Dask distributed, or in-process when there is one worker."""
