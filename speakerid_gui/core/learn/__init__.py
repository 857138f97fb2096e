"""Learning from the reviewer: suggestions, propagation, the refine head, relearning under the answers."""
