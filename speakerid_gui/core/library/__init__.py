"""The speaker library across projects and its open-set naming."""
