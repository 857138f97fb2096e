"""speakerid-gui: find and name the speakers in piles of unlabelled recordings."""
import os

# Read once, when torch's OpenMP starts: threads that wait at a barrier sleep instead of
# spinning for a core that another program holds (one busy core made the analysis 3-10x
# slower with spinning threads). Set here, before anything imports torch; a value the
# user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
