#!/usr/bin/env python3
"""`h5dump -H` of a synthetic corpus shows exactly the layout documented in
docs/corpus-format.md: the same datasets with the same element types and ranks, and
the same root attributes. Standard library only.

Run by ctest with HARDY_DIST_BIN (the executable) and HARDY_SOURCE_DIR set.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

BIN = os.environ.get("HARDY_DIST_BIN", "build/hardy_dist")
SOURCE = os.environ.get("HARDY_SOURCE_DIR", ".")
TYPES = {"float32": "H5T_IEEE_F32LE", "int32": "H5T_STD_I32LE",
         "int64": "H5T_STD_I64LE", "int8": "H5T_STD_I8LE"}


def documented():
    """(datasets {name: (h5 type for a classification corpus, rank)}, attributes)"""
    text = open(os.path.join(SOURCE, "docs", "corpus-format.md"), encoding="utf-8").read()
    datasets, attributes = {}, set()
    section = None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        row = re.match(r"\|\s*`(\w+)`\s*\|(.*)", line)
        if not row:
            continue
        name, cells = row.group(1), [c.strip() for c in row.group(2).split("|")]
        if section == "Root attributes":
            attributes.add(name)
        elif section == "Datasets":
            shape, dtype = cells[0], cells[1].split()[0]  # label: "int32 (classification) / ..."
            datasets[name] = (TYPES[dtype], shape.count(",") + 1)
    return datasets, attributes


def dumped(path):
    out = subprocess.run(["h5dump", "-H", path], check=True, capture_output=True,
                         text=True).stdout
    datasets = {}
    for name, dtype, dims in re.findall(
            r'DATASET "(\w+)" \{\s*DATATYPE\s+(\w+)\s*DATASPACE\s+SIMPLE \{ \( ([^)]*) \)', out):
        datasets[name] = (dtype, dims.count(",") + 1)
    attributes = set(re.findall(r'ATTRIBUTE "(\w+)"', out))
    return datasets, attributes


@unittest.skipUnless(shutil.which("h5dump"), "h5dump (hdf5-tools) not installed")
class CorpusLayout(unittest.TestCase):
    def test_synthetic_corpus_matches_the_documented_layout(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "c.h5")
            subprocess.run([BIN, "synth", "--out", path, "--dialogues", "10", "--dims", "4,5,6",
                            "--log-level", "warn"], check=True)
            doc_sets, doc_attrs = documented()
            got_sets, got_attrs = dumped(path)
            self.assertEqual(got_sets, doc_sets)  # synth writes every documented dataset
            # class_names and split_names are optional and synth has none to write.
            self.assertEqual(got_attrs, doc_attrs - {"class_names", "split_names"})


if __name__ == "__main__":
    unittest.main()
