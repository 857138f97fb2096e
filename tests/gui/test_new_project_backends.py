"""The new-project dialog offers every registered backend, a joint combination, a typed spec,
the cleaning option and change detection, and hands them to the pipeline settings."""
from __future__ import annotations


def test_dialog_offers_backends_joint_and_cleaning(qtbot, tmp_path):
    from speakerid_gui.core.embed import backend_names
    from speakerid_gui.gui.new_project import JOINT_EXAMPLE, NewProjectDialog

    dialog = NewProjectDialog(tmp_path)
    qtbot.addWidget(dialog)
    offered = [dialog.backend.itemData(i) for i in range(dialog.backend.count())]
    expected = ["auto"] + [JOINT_EXAMPLE if name == "joint" else name for name in backend_names()]
    assert offered == expected and {"ast", "whisper", "wavlm", "campp"} <= set(offered)
    s = dialog.settings()
    assert (s.backend, s.clean, s.change_detection) == ("auto", "none", False)  # the defaults
    dialog.change.setChecked(True)
    assert dialog.settings().change_detection is True

    dialog.backend.setCurrentIndex(dialog.backend.findData(JOINT_EXAMPLE))
    dialog.clean.setCurrentIndex(dialog.clean.findData("denoise+trim"))
    s = dialog.settings()
    assert (s.backend, s.clean) == (JOINT_EXAMPLE, "denoise+trim")

    dialog.backend.setEditText("whisper:model=/models/whisper-base")  # typed by hand
    assert dialog.settings().backend == "whisper:model=/models/whisper-base"
