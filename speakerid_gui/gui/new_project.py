"""New project: the audio folder, where the project goes (a default named after the folder, in
the user's data folder), the number of speakers (or estimate it), the backend."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton, QSpinBox,
                               QVBoxLayout, QWidget)

from speakerid_gui.core.pipeline import Settings
from speakerid_gui.core.user_data import user_data_dir

BACKEND_NOTES = {
    "campp": "CAM++ speaker embeddings",
    "ge2e": "GE2E speaker embeddings (faster)",
    "mfcc": "MFCC statistics (fast, weak)",
    "ast": "Audio Spectrogram Transformer (needs its weights locally)",
    "whisper": "Whisper-base encoder (needs its weights locally)",
    "wavlm": "WavLM x-vector (needs its weights locally)",
    "prosody_rnn": "prosody RNN (train it on an analysed project first)",
}
AUTO_NOTE = "CAM++, joined by GE2E when the files are shorter than a window"
JOINT_EXAMPLE = "joint:campp=1,mfcc=0.3"  # the dialog offers this; any spec can be typed in the box
CLEAN_NOTES = {"none": "none", "denoise": "reduce steady noise", "trim": "trim silent edges",
               "denoise+trim": "reduce noise and trim"}


def data_dir() -> Path:
    """Where the app keeps its projects and the demo: the user's data folder, as the library."""
    return user_data_dir()


def default_project_dir(audio_folder: str | Path) -> Path:
    """<data dir>/projects/<folder name>: the project already made for this folder if there is one,
    else the first free name ("name 2", "name 3"...: two folders called "audio" get two projects)."""
    folder = Path(audio_folder).expanduser().resolve()
    base = data_dir() / "projects"
    name = folder.name or "audio"
    for n in range(1, 1000):
        candidate = base / (name if n == 1 else f"{name} {n}")
        problem = project_dir_problem(candidate, folder)
        if problem is None:
            return candidate
    return base / name


def project_dir_problem(project: Path, audio_folder: Path) -> str | None:
    """Why `project` cannot hold the project of `audio_folder` (None: it can: new, empty, or its own)."""
    project = Path(project).expanduser()
    if not project.exists():
        return None
    if not project.is_dir():
        return f"{project} is a file"
    if (project / "project.sqlite").exists():
        import json
        import sqlite3

        try:
            with sqlite3.connect(f"file:{project / 'project.sqlite'}?mode=ro", uri=True) as db:
                row = db.execute("SELECT value FROM meta WHERE key='audio_root'").fetchone()
        except sqlite3.Error as exc:
            return f"{project} holds a project that cannot be read ({exc})"
        root = str(json.loads(row[0])) if row else ""
        if root and Path(root) != Path(audio_folder).expanduser().resolve():
            return f"{project} is already the project of {root}"
        return None
    if any(project.iterdir()):
        return f"{project} is a folder with other files in it: choose an empty or new folder"
    return None


def available_backends() -> list[str]:
    try:
        from speakerid_gui.core.embed import backend_names

        names = backend_names()
    except Exception:
        names = []
    return names or ["campp"]


class NewProjectDialog(QDialog):
    def __init__(self, folder: str | Path | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.folder = QLineEdit(str(folder) if folder else "")
        self.folder.setPlaceholderText("folder of recordings (wav, flac, ogg, mp3; searched recursively)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.project = QLineEdit("")
        self.project.setPlaceholderText("where the project (labels, edits, caches) is saved")
        self.project.textChanged.connect(lambda _: self._update_where())
        self._default_shown = ""  # the default last filled in: any other text is the reviewer's choice and stays
        browse_project = QPushButton("Browse…")
        browse_project.clicked.connect(self._browse_project)
        project_row = QHBoxLayout()
        project_row.addWidget(self.project, 1)
        project_row.addWidget(browse_project)
        self.estimate = QRadioButton("Estimate")
        self.known = QRadioButton("Known:")
        self.estimate.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.estimate)
        group.addButton(self.known)
        self.count = QSpinBox(minimum=1, maximum=10000, value=2)
        self.count.valueChanged.connect(lambda _: self.known.setChecked(True))
        count_row = QHBoxLayout()
        count_row.addWidget(self.estimate)
        count_row.addWidget(self.known)
        count_row.addWidget(self.count)
        count_row.addStretch(1)
        self.backend = QComboBox()
        self.backend.setEditable(True)  # a spec can be typed: whisper:model=/folder, joint:campp=1,ge2e=0.5
        self.backend.setToolTip("A backend, NAME:KEY=VALUE options (whisper:model=/path/to/folder), or a "
                                "weighted combination joint:campp=1,mfcc=0.3. A backend without its weights "
                                "falls back to campp with a warning.")
        self.backend.addItem(f"auto — {AUTO_NOTE} (recommended)", "auto")
        for name in available_backends():
            if name == "joint":
                self.backend.addItem(f"{JOINT_EXAMPLE} — weighted combination (edit the weights)", JOINT_EXAMPLE)
                continue
            self.backend.addItem(f"{name} — {BACKEND_NOTES[name]}" if name in BACKEND_NOTES else name, name)
        self.backend.setCurrentIndex(max(0, self.backend.findData(Settings().backend)))
        self.clean = QComboBox()
        for mode, note in CLEAN_NOTES.items():
            self.clean.addItem(note, mode)
        self.clean.setToolTip("Clean each segment before it is embedded (the audio files are not changed)")
        self.where = QLabel()
        self.where.setWordWrap(True)
        self.where.setStyleSheet("color: #666;")
        self.folder.textChanged.connect(self._update_where)
        form = QFormLayout()
        form.addRow("Recordings:", _wrap(folder_row))
        form.addRow("Project folder:", _wrap(project_row))
        form.addRow("Speakers:", _wrap(count_row))
        form.addRow("Embeddings:", self.backend)
        form.addRow("Cleaning:", self.clean)
        self.change = QCheckBox("Cut at detected speaker turns (slower)")
        self.change.setToolTip("Split speech where the speaker changes before windowing; "
                               "helps recordings with several speakers, costs about 2x analysis time")
        form.addRow("Segments:", self.change)
        self.mode = QComboBox()
        self.mode.addItem("Windows: short clips, one speaker at a time (default)", "windows")
        self.mode.addItem("Conversation: meetings, interviews, calls (turns with overlap)", "conversation")
        self.mode.setToolTip("Conversation mode finds who speaks when, overlapped speech included, with "
                             "pyannote's segmentation model over 10 s chunks, and keeps one identity per "
                             "person across all recordings")
        self.mode.currentIndexChanged.connect(lambda _: self.change.setEnabled(not self.conversation()))
        form.addRow("Mode:", self.mode)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = self.buttons.addButton("Analyse", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.where)
        layout.addWidget(self.buttons)
        self.resize(620, self.sizeHint().height())
        self._update_where()

    def audio_folder(self) -> Path:
        return Path(self.folder.text().strip()).expanduser()

    def settings(self) -> Settings:
        return Settings(backend=self.backend_spec(), speakers=self.count.value() if self.known.isChecked() else None,
                        clean=self.clean.currentData(),
                        change_detection=self.change.isChecked() and not self.conversation(),
                        conversation=self.conversation())

    def conversation(self) -> bool:
        return self.mode.currentData() == "conversation"

    def backend_spec(self) -> str:
        """The chosen entry's backend, or the spec typed into the box."""
        text = self.backend.currentText().strip()
        index = self.backend.findText(text)
        return self.backend.itemData(index) if index >= 0 else (text or Settings().backend)

    def project_dir(self) -> Path:
        text = self.project.text().strip()
        return Path(text).expanduser() if text else default_project_dir(self.audio_folder())

    def _update_where(self):
        ok = bool(self.folder.text().strip()) and self.audio_folder().is_dir()
        if ok and self.project.text().strip() in ("", self._default_shown):
            self._default_shown = str(default_project_dir(self.audio_folder()))
            self.project.blockSignals(True)
            self.project.setText(self._default_shown)
            self.project.blockSignals(False)
        problem = project_dir_problem(self.project_dir(), self.audio_folder()) if ok else None
        self.start_button.setEnabled(ok and problem is None)
        if not ok:
            self.where.setText("Choose an existing folder of recordings.")
        elif problem:
            self.where.setText(f"<span style='color:#b00020'>{problem}.</span>")
        else:
            resume = (self.project_dir() / "project.sqlite").exists()
            self.where.setText(("This folder's project exists: Analyse resumes it (nothing is lost). " if resume
                                else "") + "Your audio files are only read.")

    def _browse_project(self):
        path = QFileDialog.getExistingDirectory(self, "Project folder (new or empty)", self.project.text())
        if path:
            self.project.setText(path)

    def _browse(self):
        path = QFileDialog.getExistingDirectory(self, "Folder of recordings", self.folder.text())
        if path:
            self.folder.setText(path)


def _wrap(layout) -> QWidget:
    w = QWidget()
    layout.setContentsMargins(0, 0, 0, 0)
    w.setLayout(layout)
    return w
