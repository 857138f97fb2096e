"""Conversations: speaker-change detection, the overlap-aware segmentation model, linking local speakers across recordings, the pipeline stage."""
