"""The cluster list: a table model over ReviewSession.cluster_stats(), a sort/filter
proxy, and the panel with its filter box. Selection is by cluster id, so it survives
the model being rebuilt after every edit."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, \
    QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from ..core.palette import color_for

COLUMNS = ("Name", "Size", "Confidence", "Verified")
SORT_ROLE = Qt.ItemDataRole.UserRole
ID_ROLE = Qt.ItemDataRole.UserRole + 1


class ClusterTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.ids = np.zeros(0, np.int64)
        self.size = np.zeros(0, np.int64)
        self.conf = np.zeros(0)
        self.verified = np.zeros(0)
        self.names: list[str] = []
        self.colors: list[QColor] = []

    def refresh(self, stats, name_of, color_of):
        """Rebuild from cluster statistics (cheap: one row per cluster)."""
        self.beginResetModel()
        self.ids, self.size, self.conf, self.verified = stats.ids, stats.size, stats.confidence, stats.verified
        self.names = [name_of(int(c)) for c in self.ids]
        self.colors = [QColor(color_of(int(c)) or color_for(int(c))) for c in self.ids]
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r, col = index.row(), index.column()
        if role == ID_ROLE:
            return int(self.ids[r])
        if role == Qt.ItemDataRole.DisplayRole:
            return (self.names[r], f"{int(self.size[r]):,}", f"{self.conf[r]:.2f}",
                    f"{self.verified[r]:.0%}")[col]
        if role == SORT_ROLE:
            return (self.names[r].lower(), int(self.size[r]), float(self.conf[r]), float(self.verified[r]))[col]
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return self.colors[r]
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"cluster {int(self.ids[r])}: {self.names[r]}, {int(self.size[r])} segments, "
                    f"mean confidence {self.conf[r]:.2f}, {self.verified[r]:.0%} verified")
        return None

    def row_of(self, cluster_id: int) -> int:
        hit = np.flatnonzero(self.ids == cluster_id)
        return int(hit[0]) if len(hit) else -1


class ClusterPanel(QWidget):
    """Filter box + sortable table. Emits the current cluster and the selected ones."""

    current_changed = Signal(object)     # cluster id or None
    selection_changed = Signal(list)     # selected cluster ids

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = ClusterTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterKeyColumn(0)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QLineEdit(placeholderText="Filter clusters by name…", clearButtonEnabled=True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(COLUMNS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.selection_changed.emit(self.selected_ids()))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 1)
        self._quiet = False

    def refresh(self, stats, name_of, color_of):
        """Reload rows, keeping the current and selected clusters where they still exist."""
        current, selected = self.current_id(), self.selected_ids()
        self._quiet = True
        try:
            self.model.refresh(stats, name_of, color_of)
            self.select_ids(selected, current, emit=False)
        finally:
            self._quiet = False
        if current != self.current_id():
            self.current_changed.emit(self.current_id())

    # ---- ids <-> rows -----------------------------------------------------------------------------
    def current_id(self) -> int | None:
        index = self.table.selectionModel().currentIndex()
        return self.proxy.data(index, ID_ROLE) if index.isValid() else None

    def selected_ids(self) -> list[int]:
        rows = self.table.selectionModel().selectedRows()
        return [self.proxy.data(i, ID_ROLE) for i in sorted(rows, key=lambda i: i.row())]

    def visible_ids(self) -> list[int]:
        """Cluster ids in the table's current (sorted, filtered) order."""
        return [self.proxy.data(self.proxy.index(r, 0), ID_ROLE) for r in range(self.proxy.rowCount())]

    def _proxy_index(self, cluster_id: int):
        row = self.model.row_of(cluster_id)
        return self.proxy.mapFromSource(self.model.index(row, 0)) if row >= 0 else QModelIndex()

    def select_ids(self, ids, current: int | None = None, emit: bool = True):
        sm = self.table.selectionModel()
        selection = QItemSelection()
        for cid in ids:
            idx = self._proxy_index(cid)
            if idx.isValid():
                selection.select(idx, idx)
        quiet, self._quiet = self._quiet, self._quiet or not emit
        try:
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            sm.select(selection, flags)
            cur = self._proxy_index(current) if current is not None else QModelIndex()
            sm.setCurrentIndex(cur, QItemSelectionModel.SelectionFlag.NoUpdate)
            if cur.isValid():
                self.table.scrollTo(cur)
        finally:
            self._quiet = quiet

    def select_cluster(self, cluster_id: int | None):
        """Make one cluster current and the only one selected."""
        if cluster_id is None:
            self.table.selectionModel().clearSelection()
            self.table.selectionModel().setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)
            return
        self.select_ids([cluster_id], cluster_id)

    def step(self, delta: int) -> int | None:
        """Select the next (delta=1) or previous cluster in the table's order."""
        ids = self.visible_ids()
        if not ids:
            return None
        cur = self.current_id()
        pos = ids.index(cur) + delta if cur in ids else (0 if delta > 0 else len(ids) - 1)
        pos = max(0, min(len(ids) - 1, pos))
        self.select_cluster(ids[pos])
        return ids[pos]

    def _on_current(self, current, previous):
        if not self._quiet:
            self.current_changed.emit(self.current_id())
