#!/usr/bin/env python3
"""End-to-end tests of tools/convert_features.py on miniature copies of the public
IEMOCAP / CMU-MOSEI feature layouts, checked against docs/corpus-format.md.

Run: python3 tests/tools/convert_features_test.py -v
If HARDY_DIST_BIN names the hardy_dist executable, every converted corpus is also
passed through `hardy_dist validate`; otherwise that step alone is skipped.
"""

import os
import pickle
import subprocess
import sys
import tempfile
import unittest

try:
    import h5py
    import numpy as np
except ImportError as exc:
    # Fail loudly (not skip): a skipped test would hide that the converter is untested.
    sys.stderr.write("convert_features_test: %s; run with an interpreter that has numpy and "
                     "h5py (Debian: python3-numpy python3-h5py, /usr/bin/python3); this "
                     "one is %s\n" % (exc, sys.executable))
    sys.exit(1)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONVERTER = os.path.join(REPO, "tools", "convert_features.py")
HARDY_DIST_BIN = os.environ.get("HARDY_DIST_BIN") or None

DA, DT, DV = 6, 5, 4  # audio / text / visual dims of the miniatures


def run_converter(*args):
    # sys.executable, not the shebang: the test must exercise the interpreter it runs on.
    return subprocess.run([sys.executable, CONVERTER] + list(args),
                          capture_output=True, text=True, timeout=120)


def frame_mean(arr):
    """The expected utterance vector: 2-D [frames, D] averaged over frames."""
    arr = np.asarray(arr, dtype=np.float64)
    return arr.mean(axis=0) if arr.ndim == 2 else arr


class Miniature:
    """Writes a small feature release into `root` and records what the corpus must hold.

    `dialogues` maps dialogue id -> list of (utterance id, label, speaker letter).
    expected[...] lists per-row values in the converter's row order (sorted dialogue ids).
    """

    def __init__(self, root, dataset, dialogues, splits, rng):
        self.root, self.dataset, self.rng = root, dataset, rng
        self.dialogues, self.splits = dialogues, splits
        self.audio = os.path.join(root, "audio")
        self.text = os.path.join(root, "text")
        self.video = os.path.join(root, "video")
        self.labels = os.path.join(root, "labels.pkl")
        self.out = os.path.join(root, "corpus.h5")
        for d in (self.audio, self.text, self.video):
            os.makedirs(d)
        self.expected = {k: [] for k in ("audio", "text", "visual", "label", "sequence",
                                         "position", "split", "fold", "speaker", "utt")}
        split_of = {dia: code for code, ids in splits for dia in ids}
        row = 0
        for seq, dia in enumerate(sorted(split_of)):
            for pos, (utt, label, spk) in enumerate(dialogues[dia]):
                e = self.expected
                e["audio"].append(self._plain(self.audio, utt, DA, two_d=row % 2 == 1))
                e["text"].append(self._plain(self.text, utt, DT, two_d=row % 3 == 2))
                e["visual"].append(self._video(utt, spk, row))
                e["label"].append(label)
                e["sequence"].append(seq)
                e["position"].append(pos)
                e["split"].append(split_of[dia])
                e["fold"].append(int(dia[4]) - 1 if dataset == "iemocap" else -1)
                e["speaker"].append({"M": 0, "F": 1}.get(spk, -1))
                e["utt"].append(utt)
                row += 1
        self.n = row
        self.write_pickle()

    def _plain(self, directory, utt, dim, two_d):
        arr = (self.rng.standard_normal((3, dim)) if two_d
               else self.rng.standard_normal(dim)).astype(np.float32)
        np.save(os.path.join(directory, utt + ".npy"), arr)
        return frame_mean(arr)

    def _face(self, path, frames):
        arr = self.rng.standard_normal((frames, DV)).astype(np.float32)
        np.save(path, arr)
        return frame_mean(arr)

    def _video(self, utt, spk, row):
        """Varies the face layouts the converter must handle; returns the expected vector."""
        if self.dataset == "mosei":
            if row % 2 == 0:  # a single <utt>.npy
                return self._face(os.path.join(self.video, utt + ".npy"), 4)
            d = os.path.join(self.video, utt)  # a face dir without speaker letters
            os.makedirs(d)
            faces = [self._face(os.path.join(d, "face%d.npy" % k), 2 + k) for k in range(2)]
            return np.mean(faces, axis=0)
        d = os.path.join(self.video, utt)
        os.makedirs(d)
        other = "M" if spk == "F" else "F"
        if row % 3 == 0:
            # Names prefixed with the utterance id, which itself contains both F and M.
            want = self._face(os.path.join(d, "%s_%s.npy" % (utt, spk)), 3)
            self._face(os.path.join(d, "%s_%s.npy" % (utt, other)), 5)
            return want
        if row % 3 == 1:
            # Bare names, plus a stray non-.npy file that must be ignored.
            with open(os.path.join(d, "notes.txt"), "w") as f:
                f.write("ignored")
            self._face(os.path.join(d, other + ".npy"), 2)
            return self._face(os.path.join(d, spk + ".npy"), 4)
        # Two files for the speaker: their frame means are averaged.
        a = self._face(os.path.join(d, "%s_%s_0.npy" % (utt, spk)), 2)
        b = self._face(os.path.join(d, "%s_%s_1.npy" % (utt, spk)), 6)
        self._face(os.path.join(d, "%s_%s_0.npy" % (utt, other)), 3)
        return np.mean([a, b], axis=0)

    def write_pickle(self, video_ids=None, video_labels=None, splits=None):
        """Pickles the label tuple exactly as the public releases lay it out."""
        dialogues = self.dialogues
        ids = video_ids if video_ids is not None else {
            d: [u for u, _, _ in us] for d, us in dialogues.items()}
        labels = video_labels if video_labels is not None else {
            d: [l for _, l, _ in us] for d, us in dialogues.items()}
        speakers = {d: [s for _, _, s in us] for d, us in dialogues.items()}
        sentences = {d: ["sentence %s" % u for u, _, _ in us] for d, us in dialogues.items()}
        split_lists = [list(ids_) for _, ids_ in (splits or self.splits)]
        content = (ids, labels, speakers, sentences) + tuple(split_lists)
        with open(self.labels, "wb") as f:
            pickle.dump(content, f, protocol=2)  # protocol 2 as python2 would write

    def args(self, *extra):
        return ["--dataset", self.dataset, "--labels", self.labels, "--audio", self.audio,
                "--text", self.text, "--video", self.video, "--out", self.out] + list(extra)


def iemocap_dialogues():
    def utts(dia, specs):
        return [("%s_%s%03d" % (dia, spk, i), label, spk) for i, (spk, label) in enumerate(specs)]
    return {
        "Ses01F_impro01": utts("Ses01F_impro01", [("F", 0), ("M", 1), ("F", 2)]),
        "Ses02M_script01": utts("Ses02M_script01", [("M", 3), ("F", 0)]),
        "Ses03F_impro03": utts("Ses03F_impro03", [("M", 1), ("M", 2), ("F", 3), ("F", 0)]),
        # In videoIDs but in no split list: must not be converted.
        "Ses01M_impro02": utts("Ses01M_impro02", [("M", 1)]),
    }


# Lists deliberately unsorted: rows must follow the sorted dialogue ids.
IEMOCAP_SPLITS = [(0, ["Ses02M_script01", "Ses01F_impro01"]), (2, ["Ses03F_impro03"])]


class CorpusChecks(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="convert_features_test_")
        self.tmp = self._tmp.name
        self.rng = np.random.default_rng(20240611)

    def tearDown(self):
        self._tmp.cleanup()

    def convert_ok(self, mini, *extra):
        res = run_converter(*mini.args(*extra))
        self.assertEqual(res.returncode, 0, "converter failed:\n" + res.stderr)
        self.assertFalse(os.path.exists(mini.out + ".tmp"))
        return res

    def validate(self, path):
        if HARDY_DIST_BIN is None:
            return  # only this step needs the C++ binary
        res = subprocess.run([HARDY_DIST_BIN, "validate", "--corpus", path],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(res.returncode, 0,
                         "hardy_dist validate rejected %s:\n%s%s" % (path, res.stdout, res.stderr))

    def check_row_dataset(self, h5, name, dtype, expected):
        d = h5[name]
        self.assertEqual(d.dtype, np.dtype(dtype), name)
        self.assertEqual(d.shape, (len(expected),), name)
        self.assertEqual(d.chunks, (min(65536, len(expected)),), name)
        self.assertIsNone(d.compression, name)
        np.testing.assert_array_equal(d[()], np.asarray(expected, dtype=dtype), err_msg=name)

    def check_features(self, h5, mini):
        for name, dim in (("audio", DA), ("text", DT), ("visual", DV)):
            d = h5[name]
            self.assertEqual(d.dtype, np.float32, name)
            self.assertEqual(d.shape, (mini.n, dim), name)
            # ~1 MiB chunks of at least 64 rows, capped at N: here the whole dataset.
            self.assertEqual(d.chunks, (min(max(64, (1 << 20) // (4 * dim)), mini.n), dim), name)
            self.assertIsNone(d.compression, name)
            expected = np.stack(mini.expected[name]).astype(np.float32)
            for row in range(mini.n):
                np.testing.assert_allclose(
                    d[row], expected[row], rtol=1e-6, atol=1e-7,
                    err_msg="%s of row %d (%s)" % (name, row, mini.expected["utt"][row]))


class IemocapTest(CorpusChecks):
    def make(self, dialogues=None, splits=None):
        return Miniature(os.path.join(self.tmp, "iemocap"), "iemocap",
                         dialogues or iemocap_dialogues(), splits or IEMOCAP_SPLITS, self.rng)

    def test_converts_every_dataset_and_attribute(self):
        mini = self.make()
        self.convert_ok(mini, "--classes", "4", "--class-names", "hap,sad,neu,ang",
                        "--name", "iemocap4")
        with h5py.File(mini.out, "r") as h5:
            self.assertEqual(h5.attrs["format_version"], 1)
            self.assertEqual(h5.attrs["format_version"].dtype, np.int32)
            self.assertEqual(h5.attrs["task"], "classification")
            self.assertEqual(h5.attrs["classes"], 4)
            self.assertEqual(h5.attrs["classes"].dtype, np.int32)
            self.assertEqual(h5.attrs["class_names"], "hap,sad,neu,ang")
            self.assertEqual(h5.attrs["name"], "iemocap4")
            self.assertEqual(sorted(h5.keys()), sorted(
                ["audio", "text", "visual", "label", "sequence", "position", "split",
                 "fold", "speaker"]))
            self.check_features(h5, mini)
            e = mini.expected
            self.check_row_dataset(h5, "label", np.int32, e["label"])
            self.check_row_dataset(h5, "sequence", np.int64, e["sequence"])
            self.check_row_dataset(h5, "position", np.int32, e["position"])
            self.check_row_dataset(h5, "split", np.int8, e["split"])
            self.check_row_dataset(h5, "fold", np.int8, e["fold"])
            self.check_row_dataset(h5, "speaker", np.int8, e["speaker"])
        # Spelled out as well, so a bug shared by the fixture and the converter shows up:
        # rows follow sorted ids (Ses01F, Ses02M, Ses03F); Ses01M_impro02 is in no list.
        self.assertEqual(e["utt"][:3], ["Ses01F_impro01_F000", "Ses01F_impro01_M001",
                                        "Ses01F_impro01_F002"])
        self.assertEqual(e["sequence"], [0, 0, 0, 1, 1, 2, 2, 2, 2])
        self.assertEqual(e["fold"], [0, 0, 0, 1, 1, 2, 2, 2, 2])
        self.assertEqual(e["split"], [0, 0, 0, 0, 0, 2, 2, 2, 2])
        self.assertEqual(e["speaker"], [1, 0, 1, 0, 1, 0, 0, 1, 1])
        self.validate(mini.out)

    def test_default_classes_and_no_optional_attributes(self):
        mini = self.make()
        self.convert_ok(mini)
        with h5py.File(mini.out, "r") as h5:
            self.assertEqual(h5.attrs["classes"], 4)  # max label + 1
            self.assertNotIn("class_names", h5.attrs)
            self.assertNotIn("name", h5.attrs)
        self.validate(mini.out)

    def test_same_input_gives_identical_bytes(self):
        mini = self.make()
        self.convert_ok(mini)
        with open(mini.out, "rb") as f:
            first = f.read()
        self.convert_ok(mini)
        with open(mini.out, "rb") as f:
            self.assertEqual(first, f.read())

    def assert_fails(self, mini, *needles, extra=()):
        res = run_converter(*mini.args(*extra))
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertTrue(res.stderr.startswith("convert_features: error: "), res.stderr)
        self.assertEqual(len(res.stderr.strip().splitlines()), 1, res.stderr)
        self.assertNotIn("Traceback", res.stderr)
        for needle in needles:
            self.assertIn(needle, res.stderr)
        self.assertFalse(os.path.exists(mini.out))
        self.assertFalse(os.path.exists(mini.out + ".tmp"))
        return res.stderr

    def test_missing_audio_file(self):
        mini = self.make()
        os.remove(os.path.join(mini.audio, "Ses02M_script01_F001.npy"))
        self.assert_fails(mini, "Ses02M_script01_F001", "Ses02M_script01",
                          os.path.join(mini.audio, "Ses02M_script01_F001.npy"), "--audio")

    def test_inconsistent_text_dims(self):
        mini = self.make()
        np.save(os.path.join(mini.text, "Ses03F_impro03_F002.npy"),
                np.ones(DT + 2, dtype=np.float32))
        self.assert_fails(mini, "Ses03F_impro03_F002", "Ses03F_impro03", "%d" % (DT + 2))

    def test_no_face_for_speaker(self):
        mini = self.make()
        d = os.path.join(mini.video, "Ses01F_impro01_M001")
        for f in os.listdir(d):
            if f.endswith("M.npy"):
                os.remove(os.path.join(d, f))
        err = self.assert_fails(mini, "Ses01F_impro01_M001", "'M'")
        self.assertIn("F.npy", err)  # lists the files that are there

    def test_nan_in_feature(self):
        mini = self.make()
        arr = np.ones((2, DA), dtype=np.float32)
        arr[1, 3] = np.nan
        np.save(os.path.join(mini.audio, "Ses01F_impro01_M001.npy"), arr)
        self.assert_fails(mini, "Ses01F_impro01_M001", "NaN")

    def test_label_count_mismatch(self):
        mini = self.make()
        labels = {d: [l for _, l, _ in us] for d, us in mini.dialogues.items()}
        labels["Ses02M_script01"].append(1)
        mini.write_pickle(video_labels=labels)
        self.assert_fails(mini, "Ses02M_script01", "labels")

    def test_listed_dialogue_missing_from_video_ids(self):
        mini = self.make()
        mini.write_pickle(splits=[(0, ["Ses01F_impro01", "Ses02M_script01", "Ses04X_ghost"]),
                                  (2, ["Ses03F_impro03"])])
        self.assert_fails(mini, "Ses04X_ghost", "videoIDs")

    def test_missing_session_leaves_fold_gap(self):
        dialogues = iemocap_dialogues()
        dialogues["Ses05F_impro03"] = [(u.replace("Ses03F", "Ses05F"), l, s)
                                       for u, l, s in dialogues.pop("Ses03F_impro03")]
        mini = self.make(dialogues, [(0, ["Ses01F_impro01", "Ses02M_script01"]),
                                     (2, ["Ses05F_impro03"])])
        self.assert_fails(mini, "session", "1, 2, 5")

    def test_label_outside_classes(self):
        mini = self.make()
        self.assert_fails(mini, "--classes", extra=("--classes", "3"))


class MoseiTest(CorpusChecks):
    def make(self):
        def utts(vid, labels, spk=""):
            return [("%s_%d" % (vid, i), l, spk) for i, l in enumerate(labels)]
        dialogues = {
            "zz9Vid": utts("zz9Vid", [0.4, -1.2]),
            "aB3xYz": utts("aB3xYz", [2.8, 0.0, -3.0]),
            "Mm_07q": utts("Mm_07q", [1.6], spk="M"),
            "kk2": utts("kk2", [-0.6, 0.2]),
        }
        splits = [(0, ["zz9Vid", "aB3xYz"]), (1, ["Mm_07q"]), (2, ["kk2"])]
        return Miniature(os.path.join(self.tmp, "mosei"), "mosei", dialogues, splits, self.rng)

    def test_converts_sentiment_corpus(self):
        mini = self.make()
        self.convert_ok(mini, "--name", "mosei")
        with h5py.File(mini.out, "r") as h5:
            self.assertEqual(h5.attrs["format_version"], 1)
            self.assertEqual(h5.attrs["task"], "sentiment")
            self.assertEqual(h5.attrs["classes"], 0)
            self.assertEqual(h5.attrs["classes"].dtype, np.int32)
            self.assertEqual(h5.attrs["name"], "mosei")
            self.assertNotIn("fold", h5)
            self.check_features(h5, mini)
            e = mini.expected
            self.check_row_dataset(h5, "label", np.float32, e["label"])
            self.check_row_dataset(h5, "sequence", np.int64, e["sequence"])
            self.check_row_dataset(h5, "position", np.int32, e["position"])
            self.check_row_dataset(h5, "split", np.int8, e["split"])
            self.check_row_dataset(h5, "speaker", np.int8, e["speaker"])
        # sorted ids: Mm_07q, aB3xYz, kk2, zz9Vid (uppercase sorts first).
        self.assertEqual(e["split"], [1, 0, 0, 0, 2, 2, 0, 0])
        self.assertEqual(e["sequence"], [0, 1, 1, 1, 2, 2, 3, 3])
        self.assertEqual(e["speaker"], [0, -1, -1, -1, -1, -1, -1, -1])
        self.validate(mini.out)

    def test_rejects_classes_flag(self):
        mini = self.make()
        res = run_converter(*mini.args("--classes", "2"))
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("--classes", res.stderr)


class MspPodcastTest(CorpusChecks):
    """A miniature MSP-Podcast release: labels_consensus.csv plus audio/ and text/ with
    one <FileName stem>.npy per speaking turn."""
    HEADER = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
    TURNS = [  # FileName, EmoClass, SpkrID, Split_Set
        ("MSP-PODCAST_0001_0001.wav", "N", "1200", "Train"),
        ("MSP-PODCAST_0001_0002.wav", "H", "1200", "Train"),
        ("MSP-PODCAST_0002_0001.wav", "X", "310", "Train"),       # no agreement: left out
        ("MSP-PODCAST_0002_0002.wav", "A", "310", "Development"),
        ("MSP-PODCAST_0003_0001.wav", "S", "Unknown", "Test1"),
        ("MSP-PODCAST_0004_0001.wav", "O", "77", "Test2"),         # other: left out
        ("MSP-PODCAST_0004_0002.wav", "N", "77", "Test2"),
        ("MSP-PODCAST_0005_0001.wav", "C", "4096", "Test3"),
        ("MSP-PODCAST_0006_0001.wav", "U", "1200", "Train"),
    ]

    # EmoAct, EmoVal, EmoDom of each of TURNS, as written in the CSV: both ends of the
    # [1, 7] range, and values that are not exact in float32.
    RATINGS = [("4.2", "3.8", "4.0"), ("1.0", "7.0", "2.6"), ("3.4", "2.2", "5.8"),
               ("6.2", "1.6", "4.4"), ("2.0", "3.0", "1.4"), ("5.6", "4.8", "3.2"),
               ("7", "1", "6.6"), ("4.8", "5.2", "3.6"), ("1.2", "6.4", "2.0")]

    def make(self, turns=None, rows_override=None, ratings=None):
        root = os.path.join(self.tmp, "msp")
        for d in ("audio", "text"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        turns = turns or self.TURNS
        ratings = ratings or [("4.2", "3.8", "4.0")] * len(turns)
        lines = rows_override or ["%s,%s,%s,%s,%s,%s,Female,%s\n" % ((f, e) + r + (spk, split))
                                  for (f, e, spk, split), r in zip(turns, ratings)]
        with open(os.path.join(root, "labels_consensus.csv"), "w") as f:
            f.write(self.HEADER + "".join(lines))
        self.vectors = {}
        for f, _, _, _ in turns:
            stem = os.path.splitext(f)[0]
            for d, dim in (("audio", DA), ("text", DT)):
                v = self.rng.normal(size=dim)
                np.save(os.path.join(root, d, stem + ".npy"), v)
                self.vectors[(d, stem)] = v
        self.root = root
        self.out = os.path.join(root, "corpus.h5")
        return root

    def args(self, *extra):
        return ["--dataset", "msp-podcast", "--labels", os.path.join(self.root, "labels_consensus.csv"),
                "--audio", os.path.join(self.root, "audio"), "--text", os.path.join(self.root, "text"),
                "--out", self.out] + list(extra)

    def convert(self, *extra):
        return run_converter(*self.args(*extra))

    def test_converts_turns_speakers_and_partitions(self):
        self.make()
        res = self.convert()
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("left out: O 1, X 1", res.stderr)
        with h5py.File(self.out, "r") as h5:
            self.assertEqual(int(h5.attrs["format_version"]), 2)
            self.assertEqual(h5.attrs["modalities"], "audio,text")
            self.assertEqual(h5.attrs["split_names"], "train,valid,test1,test2,test3")
            self.assertEqual(h5.attrs["class_names"], "A,S,H,U,F,D,C,N")
            self.assertEqual(int(h5.attrs["classes"]), 8)
            self.assertNotIn("visual", h5)
            kept = [t for t in self.TURNS if t[1] not in ("X", "O")]
            order = "ASHUFDCN"
            self.check_row_dataset(h5, "label", np.int32, [order.index(t[1]) for t in kept])
            self.check_row_dataset(h5, "split", np.int8,
                                   [{"Train": 0, "Development": 1, "Test1": 2, "Test2": 3, "Test3": 4}[t[3]]
                                    for t in kept])
            self.check_row_dataset(h5, "speaker", np.int32, [-1 if t[2] == "Unknown" else int(t[2]) for t in kept])
            self.check_row_dataset(h5, "sequence", np.int64, list(range(len(kept))))
            self.check_row_dataset(h5, "position", np.int32, [0] * len(kept))
            for d in ("audio", "text"):
                for row, t in enumerate(kept):
                    np.testing.assert_allclose(h5[d][row], self.vectors[(d, os.path.splitext(t[0])[0])],
                                               rtol=1e-6, atol=1e-7)
        self.validate(self.out)

    def fails_with(self, fragment, *extra):
        res = self.convert(*extra)
        self.assertEqual(res.returncode, 2, res.stderr)
        lines = [l for l in res.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertTrue(lines[0].startswith("convert_features: error: "), lines[0])
        self.assertNotIn("Traceback", res.stderr)
        self.assertIn(fragment, lines[0])
        self.assertFalse(os.path.exists(self.out))
        self.assertFalse(os.path.exists(self.out + ".tmp"))
        return lines[0]

    def test_missing_feature_file(self):
        self.make()
        os.remove(os.path.join(self.root, "text", "MSP-PODCAST_0002_0002.npy"))
        self.fails_with("missing text feature file")

    def test_duplicate_file_name(self):
        self.make(turns=self.TURNS + [("MSP-PODCAST_0001_0002.wav", "H", "1200", "Train")])
        self.fails_with("appears twice")

    def test_nan_rating(self):
        self.make(rows_override=["MSP-PODCAST_0001_0001.wav,N,nan,3.8,4.0,1200,Female,Train\n"])
        self.fails_with("EmoAct")

    def test_unknown_split(self):
        self.make(rows_override=["MSP-PODCAST_0001_0001.wav,N,4.0,3.8,4.0,1200,Female,Test9\n"])
        self.fails_with("Split_Set 'Test9'")

    # ------------------------------------------------------------- --task regression

    def test_regression_keeps_every_turn_with_its_ratings(self):
        self.make(ratings=self.RATINGS)
        res = self.convert("--task", "regression")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("task regression", res.stderr)
        self.assertIn("targets arousal,valence,dominance", res.stderr)
        self.assertIn("arousal mean 3.933 min 1.000 max 7.000", res.stderr)
        self.assertIn("valence mean 3.889 min 1.000 max 7.000", res.stderr)
        self.assertIn("dominance mean 3.733 min 1.400 max 6.600", res.stderr)
        n = len(self.TURNS)  # X and O turns included: they have attribute ratings
        with h5py.File(self.out, "r") as h5:
            self.assertEqual(h5.attrs["format_version"], 2)
            self.assertEqual(h5.attrs["format_version"].dtype, np.int32)
            self.assertEqual(h5.attrs["modalities"], "audio,text")
            self.assertEqual(h5.attrs["task"], "regression")
            self.assertEqual(h5.attrs["classes"], 0)
            self.assertEqual(h5.attrs["classes"].dtype, np.int32)
            self.assertNotIn("class_names", h5.attrs)
            self.assertEqual(h5.attrs["targets"], "arousal,valence,dominance")
            for name, value in (("target_min", 1.0), ("target_max", 7.0)):
                self.assertIsInstance(h5.attrs[name], np.float64, name)
                self.assertEqual(h5.attrs[name].shape, (), name)
                self.assertEqual(h5.attrs[name], value, name)
            self.assertEqual(h5.attrs["split_names"], "train,valid,test1,test2,test3")
            self.assertEqual(h5.attrs["name"], "msp-podcast")
            self.assertEqual(sorted(h5.keys()), sorted(
                ["audio", "text", "label", "sequence", "position", "split", "speaker"]))
            label = h5["label"]
            self.assertEqual(label.dtype, np.float32)
            self.assertEqual(label.shape, (n, 3))
            # Chunked like the feature datasets: ~1 MiB of whole rows, capped at N.
            self.assertEqual(label.chunks, (min(max(64, (1 << 20) // (4 * 3)), n), 3))
            self.assertIsNone(label.compression)
            # Columns EmoAct, EmoVal, EmoDom, rows in CSV order, exactly as float32 parses them.
            np.testing.assert_array_equal(
                label[()], np.array([[float(v) for v in r] for r in self.RATINGS], np.float32))
            self.check_row_dataset(h5, "split", np.int8,
                                   [{"Train": 0, "Development": 1, "Test1": 2, "Test2": 3, "Test3": 4}[t[3]]
                                    for t in self.TURNS])
            self.check_row_dataset(h5, "speaker", np.int32,
                                   [-1 if t[2] == "Unknown" else int(t[2]) for t in self.TURNS])
            self.check_row_dataset(h5, "sequence", np.int64, list(range(n)))
            self.check_row_dataset(h5, "position", np.int32, [0] * n)
            for d, dim in (("audio", DA), ("text", DT)):
                self.assertEqual(h5[d].shape, (n, dim), d)
                for row, t in enumerate(self.TURNS):
                    np.testing.assert_allclose(h5[d][row], self.vectors[(d, os.path.splitext(t[0])[0])],
                                               rtol=1e-6, atol=1e-7)
        self.validate(self.out)

    def test_regression_ignores_emotions(self):
        self.make(ratings=self.RATINGS)
        res = self.convert("--task", "regression", "--emotions", "A,S")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("--emotions ignored", res.stderr)
        with h5py.File(self.out, "r") as h5:
            self.assertEqual(h5["label"].shape, (len(self.TURNS), 3))
            self.assertNotIn("class_names", h5.attrs)

    def test_regression_nan_rating(self):
        ratings = list(self.RATINGS)
        ratings[3] = ("6.2", "nan", "4.4")
        self.make(ratings=ratings)
        line = self.fails_with("EmoVal", "--task", "regression")
        self.assertIn("MSP-PODCAST_0002_0002.wav", line)
        self.assertIn("labels_consensus.csv line 5", line)
        self.assertIn("not a finite rating", line)

    def test_regression_empty_rating(self):
        ratings = list(self.RATINGS)
        ratings[2] = ("3.4", "2.2", "")  # an X turn: kept for regression, so checked
        self.make(ratings=ratings)
        line = self.fails_with("EmoDom", "--task", "regression")
        self.assertIn("MSP-PODCAST_0002_0001.wav", line)
        self.assertIn("empty", line)

    def test_regression_rating_outside_range(self):
        for bad, column in (("8", 0), ("0.5", 2)):
            with self.subTest(rating=bad):
                ratings = list(self.RATINGS)
                ratings[5] = tuple(bad if k == column else v for k, v in enumerate(ratings[5]))
                self.make(ratings=ratings)
                line = self.fails_with(("EmoAct", "EmoVal", "EmoDom")[column], "--task", "regression")
                self.assertIn("MSP-PODCAST_0004_0001.wav", line)
                self.assertIn("= %s, outside the rating range [1, 7]" % bad, line)


if __name__ == "__main__":
    unittest.main()
