from pathlib import Path

import numpy as np
import pytest

from speakerid_gui.core.formats.common import read_rttm, read_uem
from speakerid_gui.core.evaluate.metrics import (
    ari,
    coverage,
    der,
    eer,
    evaluate,
    format_report,
    hungarian_accuracy,
    intra_inter_distance,
    mutual_info,
    nmi,
    purity,
    rand_index,
    recording_accuracy,
    topk_retrieval,
)

AMI = Path(__file__).resolve().parents[3] / "shared" / "data" / "ami-debug"


def blobs(n_per=50, n_speakers=2, dim=16, spread=0.05, seed=0):
    """Well separated speakers: tight gaussian clouds around random directions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_speakers, dim))
    labels = np.repeat(np.arange(n_speakers), n_per)
    emb = centres[labels] + spread * rng.normal(size=(len(labels), dim))
    return emb, labels


# ---------------------------------------------------------------- clustering

def test_relabelled_permutation_is_perfect():
    true = np.array(["a", "a", "b", "b", "c", "c"])
    pred = np.array([7, 7, 3, 3, 5, 5])
    assert hungarian_accuracy(true, pred) == 1.0
    assert purity(true, pred) == coverage(true, pred) == 1.0
    assert nmi(true, pred) == pytest.approx(1.0)
    assert ari(true, pred) == pytest.approx(1.0)
    assert rand_index(true, pred) == pytest.approx(1.0)
    assert mutual_info(true, pred) == pytest.approx(np.log(3))


def test_one_swapped_item_costs_one_over_n():
    true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    pred = np.array([1, 1, 1, 0, 0, 0, 0, 0])  # relabelled, and item 3 moved to the other cluster
    assert hungarian_accuracy(true, pred) == pytest.approx(7 / 8)


def test_unmatched_clusters_are_errors_and_purity_coverage_differ():
    true = np.array(["A"] * 4)
    pred = np.array([0, 0, 1, 1])  # one speaker split in two clusters
    assert hungarian_accuracy(true, pred) == 0.5
    assert purity(true, pred) == 1.0
    assert coverage(true, pred) == 0.5
    merged = np.array([0, 0, 0, 0])
    two = np.array(["A", "A", "B", "B"])
    assert purity(two, merged) == 0.5 and coverage(two, merged) == 1.0
    assert hungarian_accuracy(two, merged) == 0.5


def test_rand_index_by_hand():
    # pairs (true / pred): (0,1) same/diff, (0,2) diff/diff, (1,2) diff/same -> 1 of 3 agree
    assert rand_index(np.array([0, 0, 1]), np.array([0, 1, 1])) == pytest.approx(1 / 3)
    # agree: (0,1) same/same, (0,3) and (1,3) diff/diff; disagree: (0,2), (1,2), (2,3)
    assert rand_index(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1])) == pytest.approx(3 / 6)


def test_recording_accuracy():
    recs = np.array(["r1", "r1", "r1", "r2", "r2", "r3", "r3", "r3"])
    true = np.array(["A", "A", "A", "B", "B", "A", "A", "A"])
    pred = np.array([5, 5, 6, 6, 6, 6, 6, 5])
    # segment mapping: 5 -> A (3 of A), 6 -> B; r1 majority 5 -> A ok, r2 6 -> B ok, r3 majority 6 -> B wrong
    assert recording_accuracy(recs, true, pred) == pytest.approx(2 / 3)


# ---------------------------------------------------------------- embeddings

def test_eer_separated_blobs_near_zero_and_random_labels_near_half():
    emb, labels = blobs(n_per=100, n_speakers=4)
    assert eer(emb, labels) < 0.01
    random_labels = np.random.default_rng(1).integers(0, 4, size=len(labels))
    assert abs(eer(emb, random_labels) - 0.5) < 0.05


def test_eer_sampled_pairs_agree_with_all_pairs():
    emb, labels = blobs(n_per=60, n_speakers=3, spread=1.0)
    full = eer(emb, labels)
    sampled = eer(emb, labels, max_pairs=4000)
    assert 0.0 < full < 0.5
    assert sampled == pytest.approx(full, abs=0.05)


def test_eer_undefined_with_one_speaker():
    emb, _ = blobs(n_per=10, n_speakers=1)
    assert np.isnan(eer(emb, np.zeros(10)))


def test_topk_retrieval_on_blobs_and_chunking():
    emb, labels = blobs(n_per=30, n_speakers=3)
    assert topk_retrieval(emb, labels, k=5) == 1.0
    # a singleton speaker can never find a same-speaker neighbour
    labels_single = labels.copy()
    labels_single[0] = 99
    assert topk_retrieval(emb, labels_single, k=5) == pytest.approx(89 / 90)
    # tiny chunks give the same answer as one big chunk
    rng = np.random.default_rng(3)
    noisy = rng.normal(size=(90, 8))
    assert topk_retrieval(noisy, labels, k=3, chunk_elements=100) == topk_retrieval(noisy, labels, k=3)


def test_topk_excludes_self():
    emb = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert topk_retrieval(emb, np.array([0, 1]), k=1) == 0.0


def test_intra_inter_distance():
    emb, labels = blobs(n_per=20, n_speakers=3)
    intra, inter = intra_inter_distance(emb, labels)
    assert intra < 0.05 < inter
    same = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    intra, inter = intra_inter_distance(same, np.array([0, 0, 1, 1]))
    assert intra == pytest.approx(0.0, abs=1e-6) and inter == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------- DER

REF = {"f": [(0.0, 10.0, "A"), (10.0, 20.0, "B")]}


def test_der_identical_and_consistently_swapped_is_zero():
    assert der(REF, REF)["der"] == 0.0
    swapped = {"f": [(0.0, 10.0, "spk1"), (10.0, 20.0, "spk0")]}
    result = der(REF, swapped, collar=0.0)
    assert result["der"] == 0.0 and result["total"] == pytest.approx(20.0)


def test_der_empty_hypothesis_is_all_missed():
    result = der(REF, {}, collar=0.0)
    assert result["der"] == pytest.approx(1.0)
    assert result["missed"] == pytest.approx(20.0)
    assert result["false_alarm"] == result["confusion"] == 0.0


def test_der_confusion_and_false_alarm_by_hand():
    hyp = {"f": [(0.0, 15.0, "x"), (15.0, 20.0, "y"), (20.0, 22.0, "y")]}
    result = der(REF, hyp, collar=0.0)
    # x -> A, y -> B: 10..15 is confusion (5 s), 20..22 false alarm (2 s), total 20 s
    assert result["confusion"] == pytest.approx(5.0)
    assert result["false_alarm"] == pytest.approx(2.0)
    assert result["missed"] == pytest.approx(0.0)
    assert result["der"] == pytest.approx(7 / 20)


def test_der_collar_forgives_boundary_errors():
    ref = {"f": [(0.0, 10.0, "A")]}
    hyp = {"f": [(0.0, 10.2, "A")]}
    assert der(ref, hyp, collar=0.0)["der"] == pytest.approx(0.2 / 10)
    with_collar = der(ref, hyp, collar=0.25)
    assert with_collar["der"] == 0.0
    assert with_collar["total"] == pytest.approx(9.5)  # 0.25 s cut at both ends


def test_der_overlap_is_scored():
    ref = {"f": [(0.0, 10.0, "A"), (5.0, 10.0, "B")]}
    hyp = {"f": [(0.0, 10.0, "x")]}
    result = der(ref, hyp, collar=0.0)
    assert result["total"] == pytest.approx(15.0)
    assert result["missed"] == pytest.approx(5.0)
    assert result["der"] == pytest.approx(5 / 15)


def test_der_uem_limits_files_and_time():
    ref = {"f": [(0.0, 10.0, "A")], "g": [(0.0, 10.0, "B")]}
    hyp = {"f": [(0.0, 4.0, "x")], "other": [(0.0, 5.0, "z")]}
    result = der(ref, hyp, uem={"f": [(0.0, 5.0)]}, collar=0.0)
    assert result["total"] == pytest.approx(5.0)  # only f, only 0..5 s
    assert result["missed"] == pytest.approx(1.0)


def test_der_on_real_ami_reference():
    from testdata import need

    need(AMI / "reference.rttm")
    ref, uem = read_rttm(AMI / "reference.rttm"), read_uem(AMI / "reference.uem")
    assert der(ref, ref, uem)["der"] == 0.0
    renamed = {f: [(s, e, "h_" + spk) for s, e, spk in turns] for f, turns in ref.items()}
    assert der(ref, renamed, uem)["der"] == 0.0
    one_speaker = {f: [(0.0, 30.0, "all")] for f in ref}
    result = der(ref, one_speaker, uem, collar=0.0)
    assert 0.0 < result["der"] < 1.0 and result["confusion"] > 0


# ---------------------------------------------------------------- evaluate / report

def test_evaluate_skips_unlabelled_rows_and_reports():
    emb, labels = blobs(n_per=10, n_speakers=2)
    true = [f"s{t}" for t in labels]
    true[0] = None
    pred = labels + 10
    recs = [f"r{i // 5}" for i in range(20)]
    m = evaluate(true, pred, embeddings=emb, recordings=recs)
    assert m["n_scored"] == 19 and m["n_speakers"] == 2 and m["n_clusters"] == 2
    for key in ("accuracy", "purity", "coverage", "nmi", "ari", "rand_index", "recording_accuracy", "top5"):
        assert m[key] == pytest.approx(1.0), key
    assert m["eer"] < 0.01 and m["intra"] < m["inter"]
    report = format_report(m)
    lines = report.splitlines()
    assert lines[0].startswith("accuracy") and "1.0000" in lines[0]
    value_ends = {line.index(line.split()[1]) + len(line.split()[1]) for line in lines}
    assert len(value_ends) == 1  # values are right-aligned in one column
    assert "n_clusters" in report and "eer" in report


def test_evaluate_without_embeddings_or_recordings_leaves_them_out():
    m = evaluate(["a", "a", "b"], [1, 1, 1])
    assert "eer" not in m and "recording_accuracy" not in m
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert "n/a" in format_report({"eer": float("nan")})
