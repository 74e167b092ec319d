// `hardy_dist plot` (docs/plots.md): PNG figures of a run directory, or of an ablation
// directory, drawn by gnuplot (Debian's gnuplot-nox; pngcairo terminal).
//
// Why gnuplot: it is one Debian package with no Python stack, reads plain column files
// and writes PNGs headless; every number it draws is first written by hardy_dist to
// <dir>/plots/data/*.dat, so what a figure shows can be checked against the run
// (tests/research/plot_test.py does).
#pragma once

#include <string>
#include <vector>

namespace hardy {

struct PlotFile {
  std::string path;  // the PNG
  std::string what;  // one line for logs and results.md
};

// Width and height of every figure, in pixels.
constexpr int kPlotWidth = 1200, kPlotHeight = 800;

// A run directory of `train` (or one run of `ablate`): learning curves per condition
// (train loss, valid and test primary score, from metrics.csv), the teacher's loss,
// the K_q histogram per condition (results.json), the distributions of Hd, Hi and H per
// condition and H against planted hardness when the corpus has it (fold artifacts).
// Writes <run_dir>/plots/*.png; hardy::Error when gnuplot is missing or fails.
std::vector<PlotFile> plot_run(const std::string& run_dir);

// An ablation directory: each row's difference against full (average condition,
// headline selection) with its t-interval and bootstrap interval, per score.
std::vector<PlotFile> plot_ablation(const std::string& dir);

// True when `gnuplot` can be run (for the automatic plots at the end of train/ablate,
// which warn instead of failing when it cannot).
bool gnuplot_available();

}  // namespace hardy
