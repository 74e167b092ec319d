"""results.json of two runs, compared with the stated data-parallel tolerance
(docs/data-parallel.md, "Equivalence"): shared by data_parallel_test.py and
modalities_test.py.

- K_q histograms and epoch numbers: equal;
- Spearman(H, planted) and support-label agreement: within `diag_tol`;
- a confusion matrix: same shape and total, each count within the predictions that
  `metric_tol` of accuracy allows (ceil(metric_tol * total));
- every other metric: within `metric_tol`.
"""
import json
import math
import os


def numbers(x, path=""):
    """(path, value) of every number in a JSON document, e.g. ('.folds[0].name', ...)."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield from numbers(v, path + "." + k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from numbers(v, "%s[%d]" % (path, i))
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield path, float(x)


def confusion_totals(values):
    """'...test_confusion' path -> total count of that matrix."""
    totals = {}
    for key, v in values.items():
        if "test_confusion[" in key:
            matrix = key[:key.rindex("[")]
            totals[matrix] = totals.get(matrix, 0.0) + v
    return totals


def compare_results(reference, out, label, fail, metric_tol=0.02, diag_tol=0.01):
    """Fails (through `fail(message)`) on the first value outside its tolerance;
    returns the largest difference seen."""
    a = dict(numbers(json.load(open(os.path.join(reference, "results.json")))))
    b = dict(numbers(json.load(open(os.path.join(out, "results.json")))))
    if a.keys() != b.keys():
        fail("%s: results.json differs in shape from the reference" % label)
    totals_a, totals_b = confusion_totals(a), confusion_totals(b)
    if totals_a != totals_b:
        fail("%s: the confusion matrices count different test sets" % label)
    worst = 0.0
    for key, va in a.items():
        vb = b[key]
        if va != va and vb != vb:  # both NaN
            continue
        if "k_histogram" in key or "epoch" in key.split(".")[-1]:
            tol = 0
        elif "test_confusion[" in key:
            tol = math.ceil(metric_tol * totals_a[key[:key.rindex("[")]])
        elif "spearman" in key or "agreement" in key:
            tol = diag_tol
        else:
            tol = metric_tol
        if not abs(va - vb) <= tol:
            fail("%s: %s is %r, the reference gave %r (tolerance %g)" % (label, key, vb, va, tol))
        if "test_confusion[" not in key:
            worst = max(worst, abs(va - vb))
    return worst
