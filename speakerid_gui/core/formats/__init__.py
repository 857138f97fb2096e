"""Label formats out and in, exports, clips for datasets."""
