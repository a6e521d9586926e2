"""Arora et al. (2020)'s UCI pipeline, transcribed from the paper's protocol
(not their code): NTK kernels K[dep][fix] in numpy on the raw (already
standardised) features, libsvm through scikit-learn's SVC on the precomputed
kernel, the same grid, validation split and 4 folds as nt_uci_benchmark().
The baseline of inst/bench/uci-fd.R; also an independent run of the
authors' method to compare accuracies with.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        /usr/bin/python3 inst/bench/uci-authors.py ../shared/uci-fd out.csv

Needs numpy and scikit-learn (Debian: python3-sklearn). Appends one row per
dataset to out.csv as it goes (and skips datasets already there).
"""
import csv
import os
import sys
import time

import numpy as np
from sklearn.svm import SVC

MAX_DEP = 5                                  # depths 0..4
C_LIST = [10.0 ** i for i in range(-2, 5)]   # 1e-2 .. 1e4


def read_info(path, name):
    info = {}
    with open(os.path.join(path, name + ".txt")) as f:
        for line in f:
            if "=" in line:
                key, value = line.split("=", 1)
                info[key.strip()] = value.strip()
    return info


def read_dataset(root, name):
    path = os.path.join(root, name)
    info = read_info(path, name)
    if "n_patrons2" in info or int(info["n_patrons1"]) > 5000:
        return None
    rows = np.loadtxt(os.path.join(path, info["fich1"]), skiprows=1, ndmin=2)
    x, y = rows[:, 1:-1], rows[:, -1].astype(int)

    def lines(file):
        with open(os.path.join(path, file)) as f:
            return [np.array(l.split(), dtype=int) for l in f if l.strip()]

    return x, y, lines("conxuntos.dat"), lines("conxuntos_kfold.dat")


def kernels(x):
    """K[dep][fix]: the NTK of a ReLU net with dep hidden layers whose first
    fix weight layers are frozen, on Sigma0 = x x' (no 1/d, no c_sigma)."""
    sigma = [x @ x.T]
    sdot = [None]
    for dep in range(1, MAX_DEP):
        s = sigma[-1]
        d = np.sqrt(np.diag(s))
        norm = np.outer(d, d)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where(norm > 0, s / norm, 0.0)
        c = np.clip(c, -1.0, 1.0)
        theta = np.arccos(c)
        sigma.append(norm * (np.sin(theta) + (np.pi - theta) * c) / (2 * np.pi))
        sdot.append((np.pi - theta) / (2 * np.pi))
    out = {}
    for dep in range(MAX_DEP):
        for fix in range(dep + 1):
            k = np.zeros_like(sigma[0])
            for h in range(fix, dep + 1):        # trainable layers h >= fix
                term = sigma[h].copy()
                for g in range(h + 1, dep + 1):
                    term *= sdot[g]
                k += term
            out[(dep, fix)] = k
    return out


def svm_accuracy(k, y, train, test, c):
    clf = SVC(kernel="precomputed", C=c, cache_size=100000)
    clf.fit(k[np.ix_(train, train)], y[train])
    return float(np.mean(clf.predict(k[np.ix_(test, train)]) == y[test]))


def run(path, name):
    data = read_dataset(path, name)
    if data is None:
        return None
    x, y, split, folds = data
    started = time.time()
    ks = kernels(x)
    kernel_seconds = time.time() - started
    best = None
    for dep in range(MAX_DEP):
        for fix in range(dep + 1):
            for c in C_LIST:
                acc = svm_accuracy(ks[(dep, fix)], y, split[0], split[1], c)
                if best is None or acc > best[0]:
                    best = (acc, dep, fix, c)
    k = ks[(best[1], best[2])]
    test = np.mean([svm_accuracy(k, y, folds[2 * f], folds[2 * f + 1], best[3]) for f in range(4)])
    seconds = time.time() - started
    return dict(dataset=name, n=len(y), depth=best[1], fixed=best[2], C=best[3],
                validation=best[0], accuracy=test, kernel_seconds=kernel_seconds,
                svm_seconds=seconds - kernel_seconds)


def main():
    path, out = sys.argv[1], sys.argv[2]
    done = set()
    if os.path.exists(out):
        with open(out) as f:
            done = {row["dataset"] for row in csv.DictReader(f)}
    fields = ["dataset", "n", "depth", "fixed", "C", "validation", "accuracy",
              "kernel_seconds", "svm_seconds"]
    names = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    for name in names:
        if name in done:
            continue
        row = run(path, name)
        if row is None:
            continue
        new = not os.path.exists(out)
        with open(out, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            if new:
                w.writeheader()
            w.writerow(row)
        print("%-28s %.4f %.0f s" % (name, row["accuracy"], row["kernel_seconds"] + row["svm_seconds"]),
              flush=True)


if __name__ == "__main__":
    main()
