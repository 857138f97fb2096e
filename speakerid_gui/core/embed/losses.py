"""Contrastive losses shared by the trainers (refinement head in learn.py, prosody RNN in embed/).

Below both, so a backend that trains on the project does not import the learning layer.
"""
from __future__ import annotations


def nt_xent_loss(z1, z2, tau: float = 0.1):
    """NT-Xent (SimCLR): each view must pick its partner among the 2N - 1 others."""
    import torch
    import torch.nn.functional as F

    z = torch.cat([z1, z2])
    sim = z @ z.T / tau
    sim.fill_diagonal_(-1e9)
    n = len(z1)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)
