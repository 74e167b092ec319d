#!/usr/bin/env python3
"""Convert public feature layouts into a hardy_dist corpus (docs/corpus-format.md).

--dataset iemocap / mosei: the GCNet / MoMKE / HARDY-MER layout, a label pickle plus
one directory of per-utterance ``.npy`` files per modality (see tools/README.md);
written as format_version 1 (audio, text, visual).

--dataset msp-podcast: MSP-Podcast's consensus labels (labels_consensus.csv, columns
FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set) plus one directory of
``<FileName stem>.npy`` per speaking turn for audio and for text; written as
format_version 2 with modalities audio,text, one sequence per turn, speaker ids
(Unknown = -1) and the official partitions as split codes (train, valid, test1,
test2, test3). --task classification labels the turns with EmoClass; --task
regression with the ratings EmoAct, EmoVal, EmoDom as float32 [N, 3] targets
arousal, valence, dominance in [1, 7].

Exit codes: 0 success, 2 any input problem (one ``convert_features: error: ...`` line on
stderr, never a traceback), 130 interrupted. The output is written to ``OUT.tmp`` and
renamed into place only when complete, so a failed run never leaves a half file at OUT.
"""

import argparse
import os
import pickle
import sys
import time

try:
    import h5py
    import numpy as np
except ImportError as exc:  # give the fix, not a traceback
    sys.stderr.write(
        "convert_features: error: %s; this tool needs numpy and h5py for %s "
        "(Debian: apt-get install python3-numpy python3-h5py, then run it with "
        "/usr/bin/python3)\n" % (exc, sys.executable))
    sys.exit(2)

FORMAT_VERSION = 1
MSP_FORMAT_VERSION = 2                    # names its modalities: audio,text
MODALITIES = ("audio", "text", "visual")  # dataset names, modality order a, t, v
MSP_MODALITIES = ("audio", "text")
MSP_COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")
# Split_Set -> split code; names in that order go to the split_names attribute.
MSP_SPLITS = {"Train": 0, "Development": 1, "Test1": 2, "Test2": 3, "Test3": 4}
MSP_SPLIT_NAMES = "train,valid,test1,test2,test3"
# The eight primary emotions of MSP-Podcast, in the order of its documentation:
# Angry, Sad, Happy, sUrprise, Fear, Disgust, Contempt, Neutral. X (no agreement)
# and O (other) are left out unless asked for.
MSP_PRIMARY = ("A", "S", "H", "U", "F", "D", "C", "N")
# --task regression: target name -> CSV column, in label column order, and the
# declared range of every rating (the attributes target_min, target_max).
MSP_TARGETS = (("arousal", "EmoAct"), ("valence", "EmoVal"), ("dominance", "EmoDom"))
MSP_RATING_RANGE = (1.0, 7.0)
FLAG_OF = {"audio": "--audio", "text": "--text", "visual": "--video"}
SPEAKER_CODE = {"M": 0, "F": 1}           # anything else is -1 (unknown)
FEATURE_CHUNK_BYTES = 1 << 20             # same chunk policy as hardy_dist's writer
MIN_FEATURE_CHUNK_ROWS = 64
ROW_CHUNK_ROWS = 65536
WRITE_BLOCK_ROWS = 1024                   # rows buffered per modality before a write
PROGRESS_SECONDS = 2.0


class ConvertError(Exception):
    """An input problem; main() prints it as one line and exits with code 2."""


# --------------------------------------------------------------------------- labels


def _text(value):
    """Ids and speaker letters may come back as bytes from python2 pickles."""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return value


def load_label_pickle(path, dataset):
    """Returns (videoIDs, videoLabels, videoSpeakers, splits) with splits a list of
    (split code, list name, dialogue ids) in the order the pickle stores them."""
    try:
        with open(path, "rb") as f:
            # The published pickles were written by python2; latin1 maps its byte
            # strings 1:1 onto str and is what the original loaders use.
            content = pickle.load(f, encoding="latin1")
    except OSError as exc:
        raise ConvertError("cannot open label pickle %s (%s); check --labels"
                           % (path, exc.strerror or exc))
    except Exception as exc:  # unpickling can raise almost anything on a bad file
        raise ConvertError("cannot unpickle label file %s (%s: %s); --labels must be "
                           "the label pickle of the %s feature release"
                           % (path, type(exc).__name__, exc, dataset))

    if dataset == "iemocap":
        want = 6
        fields = "(videoIDs, videoLabels, videoSpeakers, videoSentences, trainVid, testVid)"
    else:
        want = 7
        fields = ("(videoIDs, videoLabels, videoSpeakers, videoSentences, "
                  "trainVids, valVids, testVids)")
    if not isinstance(content, (tuple, list)) or len(content) != want:
        got = ("a %d-tuple" % len(content) if isinstance(content, (tuple, list))
               else type(content).__name__)
        raise ConvertError("label pickle %s holds %s, but --dataset %s expects the %d-tuple "
                           "%s; check --labels and --dataset"
                           % (path, got, dataset, want, fields))

    video_ids, video_labels, video_speakers = content[0], content[1], content[2]
    for name, value in (("videoIDs", video_ids), ("videoLabels", video_labels),
                        ("videoSpeakers", video_speakers)):
        if not isinstance(value, dict):
            raise ConvertError("label pickle %s: %s is a %s, expected a dict keyed by "
                               "dialogue id; check --labels" % (path, name, type(value).__name__))
    if dataset == "iemocap":
        # The IEMOCAP release has no validation list: its train list is sessions used
        # for training and its test list the rest, so split 1 (valid) stays empty.
        splits = [(0, "trainVid", content[4]), (2, "testVid", content[5])]
    else:
        splits = [(0, "trainVids", content[4]), (1, "valVids", content[5]),
                  (2, "testVids", content[6])]
    splits = [(code, name, [_text(v) for v in ids]) for code, name, ids in splits]
    return video_ids, video_labels, video_speakers, splits


class Utterance:
    # letter: the speaker as the pickle gives it ('M'/'F' when known, else None);
    # speaker: its int8 code in the corpus.
    __slots__ = ("dialogue", "utt", "label", "sequence", "position", "split", "fold",
                 "letter", "speaker")


def plan_rows(dataset, video_ids, video_labels, video_speakers, splits):
    """Builds one Utterance per output row, in row order, and checks the label side."""
    split_of = {}
    for code, list_name, ids in splits:
        for dia in ids:
            if dia in split_of and split_of[dia][0] != code:
                raise ConvertError(
                    "dialogue %s is in both %s and %s; a sequence must lie in one split - "
                    "fix the label pickle" % (dia, split_of[dia][1], list_name))
            split_of[dia] = (code, list_name)
    if not split_of:
        raise ConvertError("the label pickle lists no dialogues in any split")

    rows = []
    for seq, dia in enumerate(sorted(split_of)):
        code, list_name = split_of[dia]
        for table_name, table in (("videoIDs", video_ids), ("videoLabels", video_labels),
                                  ("videoSpeakers", video_speakers)):
            if dia not in table:
                raise ConvertError(
                    "dialogue %s is listed in %s but missing from %s of the label pickle; "
                    "the pickle is inconsistent - use the matching release or drop the "
                    "dialogue from %s" % (dia, list_name, table_name, list_name))
        utts = [_text(u) for u in video_ids[dia]]
        labels = list(video_labels[dia])
        speakers = [_text(s) for s in video_speakers[dia]]
        if not utts:
            raise ConvertError("dialogue %s has no utterances in videoIDs" % dia)
        if len(labels) != len(utts):
            raise ConvertError(
                "dialogue %s has %d utterances in videoIDs but %d labels in videoLabels "
                "(first utterance %s); the pickle is inconsistent - use the matching release"
                % (dia, len(utts), len(labels), utts[0]))
        if len(speakers) != len(utts):
            raise ConvertError(
                "dialogue %s has %d utterances in videoIDs but %d speakers in videoSpeakers "
                "(first utterance %s); the pickle is inconsistent - use the matching release"
                % (dia, len(utts), len(speakers), utts[0]))
        fold = -1
        if dataset == "iemocap":
            # IEMOCAP ids start with 'SesN' (N = session 1..5); the standard
            # leave-one-session-out protocol makes the session the fold.
            if len(dia) < 5 or not dia.startswith("Ses") or not dia[4].isdigit() or dia[4] == "0":
                raise ConvertError(
                    "dialogue id %s does not look like an IEMOCAP id (Ses0N...), so its "
                    "session (fold) is unknown; check --dataset" % dia)
            fold = int(dia[4]) - 1
        for pos, (utt, label, spk) in enumerate(zip(utts, labels, speakers)):
            u = Utterance()
            u.dialogue, u.utt, u.label = dia, utt, label
            u.sequence, u.position, u.split, u.fold = seq, pos, code, fold
            # Speakers other than 'M'/'F' (absent, or one-hot arrays in some releases)
            # are unknown; isinstance first, since an array is not hashable.
            u.letter = spk if isinstance(spk, str) and spk in SPEAKER_CODE else None
            u.speaker = SPEAKER_CODE[u.letter] if u.letter else -1
            rows.append(u)
    return rows


def label_array(dataset, rows, classes_arg, class_names):
    """Returns (label array, classes) after checking every label against the task."""
    if dataset == "mosei":
        out = np.empty(len(rows), dtype=np.float32)
        for i, u in enumerate(rows):
            try:
                value = float(u.label)
            except (TypeError, ValueError):
                value = float("nan")
            if not np.isfinite(value) or not -3.0 <= value <= 3.0:
                raise ConvertError(
                    "utterance %s of dialogue %s has label %r; CMU-MOSEI sentiment labels "
                    "must be finite scores in [-3, 3] - check --labels and --dataset"
                    % (u.utt, u.dialogue, u.label))
            out[i] = value
        return out, 0

    out = np.empty(len(rows), dtype=np.int32)
    for i, u in enumerate(rows):
        try:
            value = float(u.label)
        except (TypeError, ValueError):
            value = float("nan")
        if not np.isfinite(value) or value != int(value) or value < 0:
            raise ConvertError(
                "utterance %s of dialogue %s has label %r; IEMOCAP labels must be class "
                "indices 0, 1, ... - check --labels and --dataset" % (u.utt, u.dialogue, u.label))
        out[i] = int(value)
    top = int(out.max())
    if classes_arg is not None:
        classes = classes_arg
    elif class_names is not None:
        classes = len(class_names)  # the names say how many classes there are
    else:
        classes = top + 1
    if classes < 2:
        raise ConvertError("only %d class found (max label %d); a classification corpus "
                           "needs at least 2 - pass --classes" % (classes, top))
    if top >= classes:
        i = int(np.argmax(out))
        raise ConvertError(
            "utterance %s of dialogue %s has label %d, outside [0, %d); raise --classes "
            "(or give as many --class-names) to cover every label"
            % (rows[i].utt, rows[i].dialogue, top, classes))
    if class_names is not None and len(class_names) != classes:
        raise ConvertError("--class-names has %d names but there are %d classes; give "
                           "exactly one name per class" % (len(class_names), classes))
    return out, classes


def check_folds(rows):
    """The corpus format needs folds 0..F-1 all non-empty and F >= 2; with the fold
    being session - 1 a missing session would leave a hole, so refuse it here rather
    than write a file that `hardy_dist validate` rejects."""
    present = sorted({u.fold for u in rows})
    if present != list(range(len(present))) or len(present) < 2:
        sessions = ", ".join(str(f + 1) for f in present)
        raise ConvertError(
            "the converted dialogues come from IEMOCAP session(s) %s; the fold of an "
            "utterance is its session - 1 and the corpus format needs at least 2 folds "
            "with every fold 0..max present - include every session from 1 up to the "
            "highest one in trainVid/testVid" % sessions)


# --------------------------------------------------------------------------- features


def _where(u):
    return "utterance %s of dialogue %s" % (u.utt, u.dialogue)


def load_vector(path, u, modality):
    """Loads one .npy as a float64 vector: 1-D as is, 2-D [frames, D] averaged over
    frames (the utterance-level feature the authors' loaders use)."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ConvertError("cannot read %s feature %s for %s (%s); re-extract that file"
                           % (modality, path, _where(u), exc))
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
        raise ConvertError("%s feature %s for %s is not a numeric .npy array; re-extract "
                           "that file" % (modality, path, _where(u)))
    if arr.ndim > 2:
        # Some extractors keep singleton batch axes ([1, frames, D]); drop only those.
        arr = arr.reshape([n for n in arr.shape[:-1] if n != 1] + [arr.shape[-1]])
    if arr.ndim == 0 or arr.ndim > 2 or arr.shape[-1] == 0 or arr.size == 0:
        raise ConvertError("%s feature %s for %s has shape %s; expected [D] or "
                           "[frames, D] with D, frames >= 1 - re-extract that file"
                           % (modality, path, _where(u), list(arr.shape)))
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ConvertError("%s feature %s for %s contains NaN or Inf; re-extract that file"
                           % (modality, path, _where(u)))
    return arr.mean(axis=0) if arr.ndim == 2 else arr


def resolve_plain(directory, u, modality, flag):
    """audio/text: exactly <directory>/<utterance-id>.npy."""
    path = os.path.join(directory, u.utt + ".npy")
    if not os.path.isfile(path):
        raise ConvertError(
            "missing %s feature file %s for %s; %s must hold one <utterance-id>.npy per "
            "utterance - check that it points at the right extractor output"
            % (modality, path, _where(u), flag))
    return [path]


def _face_speaker_part(face_file, utt):
    """The part of a face file name that can carry the speaker letter. The utterance
    id itself contains 'F'/'M' (Ses01F_impro01_M000), so a name starting with it is
    only matched on what follows."""
    stem = face_file[:-len(".npy")]
    return stem[len(utt):] if stem.startswith(utt) else stem


def resolve_visual(directory, u, dataset):
    """visual: <utt>.npy, or a <utt>/ directory of per-face .npy files from which the
    face of the utterance's speaker is taken (all matching files are averaged)."""
    file_path = os.path.join(directory, u.utt + ".npy")
    dir_path = os.path.join(directory, u.utt)
    if os.path.isfile(file_path):
        if os.path.isdir(dir_path):
            raise ConvertError("both %s and the face directory %s exist for %s; keep one"
                               % (file_path, dir_path, _where(u)))
        return [file_path]
    if not os.path.isdir(dir_path):
        raise ConvertError(
            "missing visual features for %s: neither %s nor the face directory %s exists; "
            "--video must hold <utterance-id>.npy or <utterance-id>/ per utterance"
            % (_where(u), file_path, dir_path))
    faces = sorted(f for f in os.listdir(dir_path) if f.endswith(".npy"))
    if not faces:
        raise ConvertError("face directory %s for %s holds no .npy file; re-extract the "
                           "faces of that utterance" % (dir_path, _where(u)))
    matched = []
    if u.letter is not None:
        other = "F" if u.letter == "M" else "M"
        for f in faces:
            part = _face_speaker_part(f, u.utt)
            # A name carrying both letters cannot be attributed to one speaker.
            if u.letter in part and other not in part:
                matched.append(f)
    if matched:
        return [os.path.join(dir_path, f) for f in matched]
    if dataset == "mosei":
        # CMU-MOSEI videos are monologues whose face files carry no speaker letter:
        # every face in the directory is the speaker.
        return [os.path.join(dir_path, f) for f in faces]
    if u.letter is None:
        raise ConvertError(
            "%s has no M/F speaker in videoSpeakers, so its face cannot be chosen among "
            "the files in %s (%s); fix videoSpeakers or store a single <utterance-id>.npy"
            % (_where(u), dir_path, ", ".join(faces)))
    raise ConvertError(
        "no face file for speaker %r of %s in %s (files: %s); each IEMOCAP face "
        "directory needs a .npy whose name (after the utterance id) contains the "
        "speaker letter M or F - fix the file names or videoSpeakers"
        % (u.letter, _where(u), dir_path, ", ".join(faces)))


def plan_files(args, rows):
    """Resolves every feature path before any heavy loading, so a missing file is
    reported in seconds rather than after most of the conversion has run."""
    return [(resolve_plain(args.audio, u, "audio", "--audio"),
             resolve_plain(args.text, u, "text", "--text"),
             resolve_visual(args.video, u, args.dataset))
            for u in rows]


# --------------------------------------------------------------------------- writing


def feature_chunk_rows(n, dim):
    rows = max(MIN_FEATURE_CHUNK_ROWS, FEATURE_CHUNK_BYTES // (4 * dim))
    return max(1, min(rows, n))


def row_chunk_rows(n):
    return max(1, min(ROW_CHUNK_ROWS, n))


class FeatureWriter:
    """Streams one modality into an [N, D] float32 dataset. D is only known after the
    first file is read, so the dataset is created lazily; rows are buffered and written
    in blocks so memory stays bounded for large corpora."""

    def __init__(self, h5, name, n):
        self.h5, self.name, self.n = h5, name, n
        self.dset, self.dim, self.first = None, None, None
        self.block, self.start = [], 0

    def add(self, vec, u, path):
        if self.dset is None:
            self.dim, self.first = vec.shape[0], (u, path)
            self.dset = create_matrix_dataset(self.h5, self.name, self.n, self.dim)
        elif vec.shape[0] != self.dim:
            fu, fpath = self.first
            raise ConvertError(
                "%s feature %s for %s has %d values, but the first utterance (%s, %s) has "
                "%d; all utterances of one modality must come from the same extractor - "
                "re-extract the odd file or point %s at one extractor's output"
                % (self.name, path, _where(u), vec.shape[0], fu.utt, fpath, self.dim,
                   FLAG_OF[self.name]))
        vec32 = vec.astype(np.float32)
        if not np.all(np.isfinite(vec32)):  # finite in float64 can overflow float32
            raise ConvertError("%s feature %s for %s overflows float32; rescale or "
                               "re-extract that file" % (self.name, path, _where(u)))
        self.block.append(vec32)
        if len(self.block) == WRITE_BLOCK_ROWS:
            self.flush()

    def flush(self):
        if self.block:
            end = self.start + len(self.block)
            self.dset[self.start:end] = np.stack(self.block)
            self.start, self.block = end, []


def create_matrix_dataset(h5, name, n, dim, data=None):
    """An [n, dim] float32 dataset chunked like the features (about 1 MiB of whole
    rows per chunk): the modalities, and the label of a regression corpus."""
    return h5.create_dataset(name, shape=(n, dim), dtype=np.float32, data=data,
                             chunks=(feature_chunk_rows(n, dim), dim),
                             track_times=False)  # no mtimes: same input, byte-identical file


def write_row_dataset(h5, name, values):
    h5.create_dataset(name, data=values, chunks=(row_chunk_rows(len(values)),),
                      track_times=False)


def set_string_attr(h5, name, value):
    h5.attrs[name] = value  # h5py writes a variable-length string; both kinds are read


def write_atomically(out, fill):
    """Runs fill(h5) on OUT.tmp, then renames it to OUT: whatever stops the run (an
    input error, a full disk, Ctrl-C), no half-written file is left behind."""
    tmp = out + ".tmp"
    try:
        with h5py.File(tmp, "w") as h5:
            fill(h5)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_rows(h5, rows, speaker_dtype, with_fold=False):
    """The per-row datasets: sequence, position, split, fold (IEMOCAP), speaker."""
    write_row_dataset(h5, "sequence", np.array([u.sequence for u in rows], np.int64))
    write_row_dataset(h5, "position", np.array([u.position for u in rows], np.int32))
    write_row_dataset(h5, "split", np.array([u.split for u in rows], np.int8))
    if with_fold:
        write_row_dataset(h5, "fold", np.array([u.fold for u in rows], np.int8))
    write_row_dataset(h5, "speaker", np.array([u.speaker for u in rows], speaker_dtype))


# --------------------------------------------------------------------------- MSP-Podcast


def read_msp_labels(path):
    """Rows of labels_consensus.csv as dicts, with the file's line number."""
    import csv
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise ConvertError("cannot open label file %s (%s); check --labels" % (path, exc.strerror or exc))
    with f:
        reader = csv.DictReader(f)
        missing = [c for c in MSP_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConvertError("label file %s lacks the column(s) %s; MSP-Podcast's labels_consensus.csv "
                               "has %s" % (path, ", ".join(missing), ",".join(MSP_COLUMNS)))
        return [(reader.line_num, row) for row in reader]


def msp_rows(path, keep_classes):
    """(rows, excluded counts): one Utterance per kept turn, in file order. With
    keep_classes None (regression) every turn is kept, whatever its EmoClass, its
    label is the (EmoAct, EmoVal, EmoDom) ratings and each must lie in
    MSP_RATING_RANGE; otherwise the label is the EmoClass's index in keep_classes."""
    seen, rows, excluded = {}, [], {}
    regression = keep_classes is None
    code_of = {} if regression else {c: k for k, c in enumerate(keep_classes)}
    lo, hi = MSP_RATING_RANGE
    for line, row in read_msp_labels(path):
        name = (row["FileName"] or "").strip()
        where = "%s line %d (%s)" % (path, line, name or "no FileName")
        if not name:
            raise ConvertError("%s has an empty FileName" % where)
        if name in seen:
            raise ConvertError("%s: FileName %s appears twice (first on line %d); each turn must be "
                               "listed once" % (where, name, seen[name]))
        seen[name] = line
        ratings = []
        for _, column in MSP_TARGETS:
            raw = (row[column] or "").strip()
            if not raw:
                raise ConvertError("%s has no %s rating (empty); fix or drop that row" % (where, column))
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not np.isfinite(value):
                raise ConvertError("%s has %s = %r, not a finite rating; fix or drop that row"
                                   % (where, column, row[column]))
            if regression and not lo <= value <= hi:
                raise ConvertError("%s has %s = %s, outside the rating range [%g, %g]; fix or drop "
                                   "that row" % (where, column, raw, lo, hi))
            ratings.append(value)
        split = (row["Split_Set"] or "").strip()
        if split not in MSP_SPLITS:
            raise ConvertError("%s has Split_Set %r; expected one of %s"
                               % (where, split, ", ".join(MSP_SPLITS)))
        emotion = (row["EmoClass"] or "").strip()
        if not regression and emotion not in code_of:
            excluded[emotion or "(empty)"] = excluded.get(emotion or "(empty)", 0) + 1
            continue
        speaker = (row["SpkrID"] or "").strip()
        if speaker.lower() == "unknown" or speaker == "":
            speaker_id = -1
        else:
            try:
                speaker_id = int(speaker)
            except ValueError:
                raise ConvertError("%s has SpkrID %r; expected an integer id or Unknown" % (where, speaker))
            if not 0 <= speaker_id <= 2147483647:
                raise ConvertError("%s has SpkrID %d, outside 0 .. 2^31 - 1" % (where, speaker_id))
        u = Utterance()
        u.dialogue = u.utt = os.path.splitext(name)[0]
        u.label = tuple(ratings) if regression else code_of[emotion]
        u.sequence, u.position, u.split, u.fold = len(rows), 0, MSP_SPLITS[split], -1
        u.letter, u.speaker = None, speaker_id
        rows.append(u)
    return rows, excluded


def convert_msp(args):
    regression = args.task == "regression"
    if args.video is not None:
        raise ConvertError("--video: MSP-Podcast has audio and text only; drop --video")
    keep = None  # regression: every turn, whatever its EmoClass; --emotions is ignored
    if not regression:
        keep = tuple(c.strip() for c in (args.emotions or ",".join(MSP_PRIMARY)).split(","))
        if any(not c for c in keep) or len(set(keep)) != len(keep) or len(keep) < 2:
            raise ConvertError("--emotions %r must list two or more distinct EmoClass codes, e.g. %s"
                               % (args.emotions, ",".join(MSP_PRIMARY)))
    for flag, directory in (("--audio", args.audio), ("--text", args.text)):
        if directory is None or not os.path.isdir(directory):
            raise ConvertError("%s %s is not a directory" % (flag, directory))
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise ConvertError("the directory of --out %s does not exist; create it first" % args.out)
    rows, excluded = msp_rows(args.labels, keep)
    if not rows:
        raise ConvertError("%s lists no turn" % args.labels if regression else
                           "no turn of %s has an emotion in --emotions %s" % (args.labels, ",".join(keep)))
    if not any(u.split == 0 for u in rows):
        raise ConvertError("no kept turn is in Split_Set Train; the corpus needs a training partition")
    plans = [(resolve_plain(args.audio, u, "audio", "--audio"), resolve_plain(args.text, u, "text", "--text"))
             for u in rows]
    n = len(rows)
    targets = [t for t, _ in MSP_TARGETS]
    labels = np.array([u.label for u in rows], np.float32 if regression else np.int32)
    started = time.monotonic()
    writers = []

    def fill(h5):
        h5.attrs.create("format_version", MSP_FORMAT_VERSION, dtype=np.int32)
        set_string_attr(h5, "modalities", ",".join(MSP_MODALITIES))
        set_string_attr(h5, "task", args.task)
        h5.attrs.create("classes", 0 if regression else len(keep), dtype=np.int32)
        if regression:
            set_string_attr(h5, "targets", ",".join(targets))
            h5.attrs["target_min"] = np.float64(MSP_RATING_RANGE[0])
            h5.attrs["target_max"] = np.float64(MSP_RATING_RANGE[1])
        else:
            set_string_attr(h5, "class_names", ",".join(keep))
        set_string_attr(h5, "split_names", MSP_SPLIT_NAMES)
        set_string_attr(h5, "name", args.name or "msp-podcast")
        writers.extend(FeatureWriter(h5, m, n) for m in MSP_MODALITIES)
        for u, plan in zip(rows, plans):
            for writer, paths in zip(writers, plan):
                writer.add(load_vector(paths[0], u, writer.name), u, paths[0])
        for writer in writers:
            writer.flush()
        if regression:
            create_matrix_dataset(h5, "label", n, len(targets), data=labels)
        else:
            write_row_dataset(h5, "label", labels)
        write_rows(h5, rows, np.int32)

    write_atomically(args.out, fill)
    per_split = {}
    for u in rows:
        per_split[u.split] = per_split.get(u.split, 0) + 1
    names = MSP_SPLIT_NAMES.split(",")
    if regression:
        tail = "task regression, targets %s (%s)%s" % (
            ",".join(targets),
            "; ".join("%s mean %.3f min %.3f max %.3f" % (t, labels[:, k].mean(dtype=np.float64),
                                                          labels[:, k].min(), labels[:, k].max())
                      for k, t in enumerate(targets)),
            "; --emotions ignored" if args.emotions is not None else "")
    else:
        tail = "left out: %s" % (", ".join("%s %d" % (k, excluded[k]) for k in sorted(excluded)) or "none")
    sys.stderr.write(
        "convert_features: wrote %d turns (audio/text dims %d/%d; %s) to %s in %.1fs; %s\n"
        % (n, writers[0].dim, writers[1].dim,
           ", ".join("%s %d" % (names[k], per_split[k]) for k in sorted(per_split)), args.out,
           time.monotonic() - started, tail))


def convert(args):
    if args.dataset == "msp-podcast":
        return convert_msp(args)
    if args.video is None:
        raise ConvertError("--video is required for --dataset %s" % args.dataset)
    if args.task != "classification" or args.emotions is not None:
        raise ConvertError("--task and --emotions apply to --dataset msp-podcast")
    class_names = None
    if args.class_names is not None:
        class_names = [c.strip() for c in args.class_names.split(",")]
        if any(not c for c in class_names):
            raise ConvertError("--class-names %r has an empty name; give a comma list like "
                               "hap,sad,neu,ang" % args.class_names)
    if args.dataset == "mosei" and (args.classes is not None or class_names is not None):
        raise ConvertError("--classes/--class-names apply to classification (--dataset "
                           "iemocap); CMU-MOSEI is a sentiment corpus with classes = 0")
    for flag, directory in (("--audio", args.audio), ("--text", args.text),
                            ("--video", args.video)):
        if not os.path.isdir(directory):
            raise ConvertError("%s %s is not a directory" % (flag, directory))
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise ConvertError("the directory of --out %s does not exist; create it first" % args.out)

    video_ids, video_labels, video_speakers, splits = load_label_pickle(args.labels, args.dataset)
    rows = plan_rows(args.dataset, video_ids, video_labels, video_speakers, splits)
    labels, classes = label_array(args.dataset, rows, args.classes, class_names)
    if args.dataset == "iemocap":
        check_folds(rows)
    if not any(u.split == 0 for u in rows):
        raise ConvertError("the train list of the label pickle is empty; the corpus format "
                           "needs a non-empty train split")
    plans = plan_files(args, rows)

    n = len(rows)
    started = time.monotonic()
    writers = []

    def fill(h5):
        h5.attrs.create("format_version", FORMAT_VERSION, dtype=np.int32)
        set_string_attr(h5, "task", "sentiment" if args.dataset == "mosei" else "classification")
        h5.attrs.create("classes", classes, dtype=np.int32)
        if class_names is not None:
            set_string_attr(h5, "class_names", ",".join(class_names))
        if args.name is not None:
            set_string_attr(h5, "name", args.name)

        writers.extend(FeatureWriter(h5, m, n) for m in MODALITIES)
        last_report = started
        for i, (u, plan) in enumerate(zip(rows, plans)):
            for writer, paths in zip(writers, plan):
                # Several matching faces: average the per-face (frame-averaged) vectors.
                vecs = [load_vector(p, u, writer.name) for p in paths]
                if len({v.shape[0] for v in vecs}) > 1:
                    raise ConvertError(
                        "face files of %s differ in dimension (%s); re-extract them"
                        % (_where(u), ", ".join("%s: %d" % (p, v.shape[0])
                                                for p, v in zip(paths, vecs))))
                vec = vecs[0] if len(vecs) == 1 else np.mean(vecs, axis=0)
                writer.add(vec, u, paths[0] if len(paths) == 1 else os.path.dirname(paths[0]))
            now = time.monotonic()
            if now - last_report >= PROGRESS_SECONDS:
                last_report = now
                sys.stderr.write("convert_features: %d/%d utterances (%.0f/s)\n"
                                 % (i + 1, n, (i + 1) / (now - started)))
        for writer in writers:
            writer.flush()

        write_row_dataset(h5, "label", labels)
        write_rows(h5, rows, np.int8, with_fold=args.dataset == "iemocap")

    write_atomically(args.out, fill)

    elapsed = time.monotonic() - started
    dims = "/".join(str(w.dim) for w in writers)
    sys.stderr.write("convert_features: wrote %d utterances in %d sequences (a/t/v dims %s) "
                     "to %s in %.1fs\n" % (n, rows[-1].sequence + 1, dims, args.out, elapsed))


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="convert_features",
        description="Convert the GCNet/MoMKE/HARDY-MER per-utterance .npy feature layout "
                    "(IEMOCAP or CMU-MOSEI) into a hardy_dist HDF5 corpus "
                    "(docs/corpus-format.md).")
    p.add_argument("--dataset", required=True, choices=("iemocap", "mosei", "msp-podcast"),
                   help="iemocap: classification, fold = session - 1, split train/test; "
                        "mosei: sentiment scores, split train/valid/test, no fold; "
                        "msp-podcast: audio and text, categorical emotions or (--task regression) "
                        "arousal/valence/dominance ratings, official partitions")
    p.add_argument("--labels", required=True, metavar="PKL|CSV",
                   help="label pickle: (videoIDs, videoLabels, videoSpeakers, videoSentences, "
                        "trainVid, testVid) for iemocap, with trainVids, valVids, testVids "
                        "for mosei; labels_consensus.csv for msp-podcast")
    p.add_argument("--audio", required=True, metavar="DIR",
                   help="directory with one <utterance-id>.npy acoustic feature per utterance "
                        "([D] or [frames, D], averaged over frames)")
    p.add_argument("--text", required=True, metavar="DIR",
                   help="directory with one <utterance-id>.npy lexical feature per utterance "
                        "([D] or [frames, D], averaged over frames)")
    p.add_argument("--video", metavar="DIR",
                   help="directory with <utterance-id>/ holding per-face .npy files (the "
                        "file(s) whose name carries the speaker letter M/F are used) or "
                        "<utterance-id>.npy per utterance (iemocap, mosei; MSP-Podcast has no video)")
    p.add_argument("--out", required=True, metavar="OUT.h5",
                   help="output corpus; written to OUT.h5.tmp and renamed when complete")
    p.add_argument("--classes", type=int, metavar="N",
                   help="number of classes (iemocap only; default: the number of "
                        "--class-names, else max label + 1)")
    p.add_argument("--class-names", metavar="A,B,C",
                   help="comma-separated class names, one per class (iemocap only), "
                        "e.g. hap,sad,neu,ang")
    p.add_argument("--name", help="corpus name stored in the 'name' attribute, e.g. iemocap4")
    p.add_argument("--task", default="classification", choices=("classification", "regression"),
                   help="msp-podcast: classification of EmoClass (default), or regression of the "
                        "ratings EmoAct, EmoVal, EmoDom as targets arousal, valence, dominance in "
                        "[1, 7] (label float32 [N, 3]; every turn with its three ratings is kept, "
                        "X and O included)")
    p.add_argument("--emotions", metavar="A,S,H,...",
                   help="msp-podcast classification: EmoClass codes that become classes, in class "
                        "order (default the eight primary emotions A,S,H,U,F,D,C,N; X and O are "
                        "left out and counted in the summary); ignored with --task regression")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        convert(args)
    except ConvertError as exc:
        sys.stderr.write("convert_features: error: %s\n" % exc)
        return 2
    except OSError as exc:  # e.g. disk full or permission denied while writing
        sys.stderr.write("convert_features: error: %s\n" % exc)
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("convert_features: interrupted; no output written\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
