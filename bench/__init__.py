"""Benchmarks: each module here measures one hot path against what a user would run instead."""
