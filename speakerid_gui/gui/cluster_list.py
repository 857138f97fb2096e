"""The cluster list: a table model over ReviewSession.cluster_stats(), a sort/filter
proxy, and the panel with its filter box. Selection is by cluster id, so it survives
the model being rebuilt after every edit."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, \
    QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from speakerid_gui.core.palette import color_for
from speakerid_gui.core.text import natural_key, plural

COLUMNS = ("Name", "Size", "Conf.", "Verified")
HEADER_TIPS = ("Cluster name (S<id> until named)", "Segments in the cluster",
               "Mean confidence of the cluster's segments (0.5: on the border with another cluster)",
               "Share of the cluster's segments a reviewer verified")
SORT_ROLE = Qt.ItemDataRole.UserRole
ID_ROLE = Qt.ItemDataRole.UserRole + 1


DISPLAY = Qt.ItemDataRole.DisplayRole.value  # ints: data() runs thousands of times per sort
DECORATION = Qt.ItemDataRole.DecorationRole.value
ALIGN = Qt.ItemDataRole.TextAlignmentRole.value
TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
SORT = SORT_ROLE.value
ID = ID_ROLE.value if hasattr(ID_ROLE, "value") else int(ID_ROLE)
RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
BULK = 50  # more row insertions/removals than this: one model reset is cheaper


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Ascending row numbers -> (first, last) of each run of consecutive rows."""
    runs: list[list[int]] = []
    for r in rows:
        if runs and r == runs[-1][1] + 1:
            runs[-1][1] = r
        else:
            runs.append([r, r])
    return [(a, b) for a, b in runs]


class ClusterTableModel(QAbstractTableModel):
    """One row per cluster. Rows are updated in place (removed, appended, changed) so the
    view's selection and current row survive edits without being rebuilt."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.ids: list[int] = []
        self.names: list[str] = []
        self.colors: list[QColor] = []
        self.display: list[tuple] = []
        self.sort_keys: list[tuple] = []

    def refresh(self, stats, name_of, color_of, change=None):
        """Rows from `stats`. With the edit's Change (core edit_record), rows are removed and
        added as it says and only the rows of the clusters it concerns are computed again."""
        new_ids = [int(c) for c in stats.ids]
        if change is not None and self.ids:
            gone, present = set(change.removed), set(new_ids)
            removed = [r for r, c in enumerate(self.ids) if c in gone]
            known = set(self.ids) - gone
            added = [c for c in change.added if c in present and c not in known]
            if known | set(added) == present:  # else the record and the statistics differ: compare all rows
                return self._apply(stats, name_of, color_of, removed, added, change.clusters())
        new_set, old_set = set(new_ids), set(self.ids)
        removed = [r for r, c in enumerate(self.ids) if c not in new_set]
        added = [c for c in new_ids if c not in old_set]
        if len(removed) + len(added) > BULK or not self.ids:
            self.beginResetModel()
            self.ids = new_ids
            self._fill(stats, name_of, color_of)
            self.endResetModel()
            return
        for first, last in reversed(_runs(removed)):  # one signal per run of rows, not per row
            self.beginRemoveRows(QModelIndex(), first, last)
            for column in (self.ids, self.names, self.colors, self.display, self.sort_keys):
                del column[first:last + 1]
            self.endRemoveRows()
        before = list(zip(self.display, (c.rgba() for c in self.colors)))
        if added:
            first = len(self.ids)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            self.ids += added
            self._fill(stats, name_of, color_of)
            self.endInsertRows()
        else:
            self._fill(stats, name_of, color_of)
        # only rows whose text or colour changed: the sort proxy re-sorts those, not all 300
        changed = [r for r, row in enumerate(zip(self.display, (c.rgba() for c in self.colors)))
                   if r < len(before) and row != before[r]]
        for first, last in _runs(changed):
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    def _apply(self, stats, name_of, color_of, removed: list[int], added: list[int], touched: set[int]):
        """An edit's rows: `removed` (row numbers) go, `added` (ids) come, the rows of `touched`
        (cluster ids) are computed again; dataChanged only for those whose text or colour changed."""
        if len(removed) + len(added) > BULK:
            self.beginResetModel()
            self.ids = [int(c) for c in stats.ids]
            self._fill(stats, name_of, color_of)
            self.endResetModel()
            return
        for first, last in reversed(_runs(removed)):
            self.beginRemoveRows(QModelIndex(), first, last)
            for column in (self.ids, self.names, self.colors, self.display, self.sort_keys):
                del column[first:last + 1]
            self.endRemoveRows()
        where = {int(c): i for i, c in enumerate(stats.ids)}
        rows = [r for r, c in enumerate(self.ids) if c in touched]
        before = [(self.display[r], self.colors[r].rgba()) for r in rows]
        for r in rows:
            self._fill_row(r, stats, where[self.ids[r]], name_of, color_of)
        if added:
            first = len(self.ids)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            for c in added:
                for column in (self.names, self.colors, self.display, self.sort_keys):
                    column.append(None)
                self.ids.append(int(c))
                self._fill_row(len(self.ids) - 1, stats, where[int(c)], name_of, color_of)
            self._rank()
            self.endInsertRows()
        else:
            self._rank()
        changed = [r for r, was in zip(rows, before) if (self.display[r], self.colors[r].rgba()) != was]
        for first, last in _runs(changed):
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    def _fill_row(self, r: int, stats, i: int, name_of, color_of):
        c = self.ids[r]
        size, conf, ver = int(stats.size[i]), float(stats.confidence[i]), float(stats.verified[i])
        self.names[r] = name = name_of(c)
        self.colors[r] = QColor(color_of(c) or color_for(c))
        self.display[r] = (name, f"{size:,}", f"{conf:.2f}", f"{ver:.0%}")
        self.sort_keys[r] = (0, size, conf, ver)  # the name's rank: _rank()

    def _rank(self):
        """Names sort naturally (S1, S2, S10, S100): by rank in natural order, an int the proxy compares fast."""
        rank = {name: r for r, name in enumerate(sorted(set(self.names), key=natural_key))}
        self.sort_keys = [(rank[n], *key[1:]) for n, key in zip(self.names, self.sort_keys)]

    def _fill(self, stats, name_of, color_of):
        """Row values for self.ids (in model order) from stats (in id order)."""
        where = {int(c): i for i, c in enumerate(stats.ids)}
        pos = [where[c] for c in self.ids]
        size, conf, ver = stats.size[pos].tolist(), stats.confidence[pos].tolist(), stats.verified[pos].tolist()
        self.names = [name_of(c) for c in self.ids]
        self.colors = [QColor(color_of(c) or color_for(c)) for c in self.ids]
        self.display = [(n, f"{s:,}", f"{c:.2f}", f"{v:.0%}") for n, s, c, v in zip(self.names, size, conf, ver)]
        # names sort naturally (S1, S2, S10, S100): by rank in natural order, an int the proxy compares fast
        rank = {name: r for r, name in enumerate(sorted(set(self.names), key=natural_key))}
        self.sort_keys = [(rank[n], s, c, v) for n, s, c, v in zip(self.names, size, conf, ver)]

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS[section]
        return None

    def data(self, index, role=DISPLAY):
        r, col = index.row(), index.column()
        role = getattr(role, "value", role)
        if role == SORT:
            return self.sort_keys[r][col]
        if role == DISPLAY:
            return self.display[r][col]
        if role == ID:
            return self.ids[r]
        if role == DECORATION and col == 0:
            return self.colors[r]
        if role == ALIGN and col > 0:
            return RIGHT
        if role == TOOLTIP:
            name, size, conf, ver = self.display[r]
            count = plural(int(size.replace(",", "")), "segment")
            return f"cluster {self.ids[r]}: {name}, {count}, mean confidence {conf}, {ver} verified"
        return None

    def row_of(self, cluster_id: int) -> int:
        try:
            return self.ids.index(int(cluster_id))
        except ValueError:
            return -1


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
        self.filter.textChanged.connect(self._filter)
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
        # Fixed widths: ResizeToContents asks every row for its text on each change (slow at 300+ rows).
        # Every column stays resizable by hand (Interactive); the name takes what is left.
        metrics = self.table.fontMetrics()
        fixed = 0
        for c, sample in enumerate(("", "100,000", "0.00", "100%")):
            if c:
                header.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
                width = max(metrics.horizontalAdvance(sample), metrics.horizontalAdvance(COLUMNS[c])) + 10
                header.resizeSection(c, width)
                fixed += width
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(metrics.horizontalAdvance("100%") + 12)
        # Wide enough for every column and a name like "Speaker 100" (a reviewer's names: at a
        # 1000 px window "Reader 4853" read "Read..."), so a small window hides neither the size,
        # confidence and verified share nor the names (the splitter gives the rest to the scatter).
        name_min = metrics.horizontalAdvance("Speaker 100") + 30  # colour swatch + text
        self.setMinimumWidth(fixed + name_min + self.table.verticalScrollBar().sizeHint().width() + 6)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.selection_changed.emit(self.selected_ids()))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 1)
        self._quiet = False
        self._shown = None  # the last cluster that was current, for when a filter hid it

    def refresh(self, stats, name_of, color_of, change=None, then: int | None = None):
        """Update rows (after an edit: as its Change says); the current and selected clusters stay
        selected where they still exist. If the current cluster went away, `then` (when it exists)
        becomes current and alone selected; current_changed fires once afterwards."""
        before = current = self.current_id()
        selected = self.selected_ids()
        self._quiet = True
        try:
            self.model.refresh(stats, name_of, color_of, change)
            alive = [c for c in selected if self.model.row_of(c) >= 0]
            if current is not None and self.model.row_of(current) < 0:
                # Qt moved "current" to a neighbour: not a choice the reviewer made
                current = then if then is not None and self.model.row_of(then) >= 0 else None
                alive = [current] if current is not None else alive
            if alive != self.selected_ids() or current != self.current_id():
                self.select_ids(alive, current, emit=False)
        finally:
            self._quiet = False
        if self.current_id() is not None:  # a renamed (re-sorted) or grown cluster stays in view
            self.table.scrollTo(self._proxy_index(self.current_id()))
        if self.current_id() != before:
            self.current_changed.emit(self.current_id())

    # ---- the sort, kept across restarts --------------------------------------------------------------
    def restore_sort(self, settings, key: str = "cluster_list/sort"):
        """Sort as the reviewer last did (column, order) and remember each change in `settings`."""
        saved = settings.value(key)
        try:
            column, order = (int(v) for v in str(saved).split(",")) if saved else (1, 1)
        except ValueError:
            column, order = 1, 1
        if 0 <= column < len(COLUMNS):
            self.table.sortByColumn(column, Qt.SortOrder(order))
        self.table.horizontalHeader().sortIndicatorChanged.connect(
            lambda col, ord_: settings.setValue(key, f"{col},{ord_.value if hasattr(ord_, 'value') else int(ord_)}"))

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
        if self.current_id() is not None:
            self._shown = self.current_id()
        if not self._quiet:
            self.current_changed.emit(self.current_id())

    def _filter(self, text: str):
        """Filter by name; the cluster under review comes back selected and in view when the
        filter shows it again (clearing the box used to leave the list at its top, unselected)."""
        shown = self.current_id() if self.current_id() is not None else self._shown
        self.proxy.setFilterFixedString(text)
        if shown is not None and self._proxy_index(shown).isValid():
            if self.current_id() != shown:
                self.select_ids([shown], shown, emit=False)
            self.table.scrollTo(self._proxy_index(shown))
