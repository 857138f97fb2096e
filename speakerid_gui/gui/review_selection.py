"""Review and selection controller of the main window: draws the open project (scatter,
cluster list), follows the current cluster (ReviewState.cluster_changed) into the scatter's
focus and the inspector, and answers clicks and selections in the scatter.

Given: the ReviewState, the cluster list, the scatter, the inspector, the status bar and
`show_segment` (the playback controller's). The current cluster is the state's: the list
asks for it (`current_changed` -> `state.set_cluster`), this controller redraws from it."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject

from speakerid_gui.core.palette import cluster_color
from speakerid_gui.core.project.store import NOISE
from speakerid_gui.core.text import plural


class ReviewSelection(QObject):
    def __init__(self, state, clusters, scatter, inspector, status, show_segment, parent=None):
        super().__init__(parent)
        self.state, self.clusters, self.scatter, self.inspector = state, clusters, scatter, inspector
        self.status, self.show_segment = status, show_segment
        clusters.current_changed.connect(state.set_cluster)
        state.cluster_changed.connect(self._on_current_cluster)
        scatter.describe = self._describe_segment
        scatter.point_clicked.connect(self._on_point_clicked)
        scatter.selection_changed.connect(self._on_segment_selection)

    # ---- drawing from the project ----------------------------------------------------------------
    def load_project_view(self):
        """Draw everything from the session: layout, labels, cluster list, largest cluster."""
        s = self.state.session
        xy, source = s.layout()
        self.scatter.set_data(xy, s.project.cluster, s.project.verified, s.project.noise, self.colors(),
                              {"layout": "", "pca": "PCA layout", "none": ""}[source])
        self.refresh_clusters()
        current = self.state.current_cluster
        if current is None or current not in s.project.cluster_sizes():
            self.select_largest_cluster()

    def reload_layout(self):
        """The stored layout changed for the same segments (cut-off pieces placed): redraw the
        points, keeping the zoom."""
        s = self.state.session
        xy, _ = s.layout()
        self.scatter.set_data(xy, s.project.cluster, s.project.verified, s.project.noise, self.colors(),
                              keep_view=True)

    def select_largest_cluster(self):
        session = self.state.session
        sizes = session.project.cluster_sizes() if session else {}
        if sizes:
            self.clusters.select_cluster(max(sizes, key=sizes.get))

    def colors(self) -> dict[int, str]:
        clusters = self.state.session.project.clusters
        return {cid: cluster_color(cid, clusters) for cid in clusters}

    def refresh_clusters(self, stats=None, change=None, then: int | None = None):
        s = self.state.session
        p = s.project
        stats = stats if stats is not None else s.cluster_stats()
        self.clusters.refresh(stats, p.cluster_name, lambda c: cluster_color(c, p.clusters), change, then)
        return stats

    def _describe_segment(self, index: int) -> str:
        s = self.state.session
        if s is None:
            return ""
        return f"{s.segment_label(index)}\n{s.project.cluster_name(int(s.project.cluster[index]))}"

    # ---- the current cluster -------------------------------------------------------------------------
    def _on_current_cluster(self, cluster_id):
        self.scatter.set_focus(cluster_id)
        if cluster_id is None or self.state.session is None:
            self.state.queue = np.zeros(0, np.int64)
            self.inspector.clear()
            return
        self.show_cluster(cluster_id, keep_segment=False)

    def show_cluster(self, cluster_id: int, keep_segment: bool):
        st = self.state
        s, p = st.session, st.session.project
        st.queue = members = s.ranked_members(cluster_id)
        n = len(members)
        title = p.cluster_name(cluster_id)
        subtitle = (f"cluster {cluster_id} · {plural(n, 'segment')} · confidence {p.confidence[members].mean():.2f} · "
                    f"{p.verified[members].mean():.0%} verified" if n else "empty")
        n_out = min(8, n // 2)  # the farthest half at most, and never listed twice in a small cluster
        reps = [(int(i), s.segment_label(int(i), short=True)) for i in members[:min(8, n - n_out)]]
        outliers = [(int(i), s.segment_label(int(i), short=True)) for i in members[::-1][:n_out]]
        color = cluster_color(cluster_id, p.clusters)
        self.inspector.set_cluster(title, subtitle, color, reps, outliers)
        if keep_segment and st.current_segment is not None and st.current_segment in members:
            self.show_segment(st.current_segment)
        elif n:
            self.show_segment(int(members[0]))
        else:
            self.show_segment(None)

    # ---- scatter interaction ------------------------------------------------------------------------
    def _on_point_clicked(self, index: int):
        cluster_id = int(self.state.session.project.cluster[index])
        if cluster_id != NOISE and cluster_id != self.state.current_cluster:
            self.clusters.select_cluster(cluster_id)
        self.scatter.clear_selection()
        self.show_segment(index, play=True)

    def _on_segment_selection(self, selection):
        if len(selection):
            self.status.showMessage(f"{plural(len(selection), 'segment')} selected: Ctrl+M moves them, X marks them "
                                    "as noise, Shift+V verifies them, Esc clears.")

    def selected_segments(self) -> np.ndarray:
        """What segment edits act on: the scatter selection, else the current segment."""
        if len(self.scatter.selection):
            return self.scatter.selection
        current = self.state.current_segment
        return np.array([current] if current is not None else [], np.int64)
