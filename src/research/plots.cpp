#include "research/plots.h"

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "data/corpus_reader.h"
#include "train/artifacts.h"
#include "train/file_io.h"
#include "train/metrics_log.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

namespace hardy {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "NaN"; }

// Mean of the finite values; NaN when there are none.
double mean_of(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x)) {
      sum += x;
      ++n;
    }
  return n ? sum / n : NAN;
}

// gnuplot string literal (single quotes; a quote is doubled).
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string header() {
  // noenhanced: names such as random_supports are text, not subscripts.
  return fmt::format("set terminal pngcairo noenhanced size {},{} font ',11'\nset datafile missing 'NaN'\nset grid\n"
                     "set key inside right top\n",
                     kPlotWidth, kPlotHeight);
}

// Runs gnuplot on <dir>/<name>.gp (cwd = dir), whose output lands in <dir>.
void run_gnuplot(const std::string& dir, const std::string& name, const std::string& script) {
  write_file_atomic(dir + "/" + name + ".gp", script);
  const std::string log = dir + "/" + name + ".log";
  const std::string command =
      fmt::format("cd {} && gnuplot {}.gp > {}.log 2>&1", quoted(dir), quoted(name), quoted(name));
  const int status = std::system(command.c_str());
  std::string text;
  try {
    text = read_file(log);
  } catch (const Error&) {
  }
  HARDY_THROW_IF_NOT_MSG(status == 0, "gnuplot failed on {}/{}.gp (status {}): {}", dir, name, status,
                         text.empty() ? "no output" : text);
}

// A clustered bar chart <name>.png of data/<data>.dat (default: <name>): column 1 the
// x labels, then one column per condition.
std::string clustered_bars(const std::string& name, const std::string& title, const std::string& xlabel,
                           const std::string& ylabel, const std::string& yrange,
                           const std::vector<std::string>& conditions, const std::string& data = "") {
  const std::string file = "data/" + (data.empty() ? name : data) + ".dat";
  std::string script = fmt::format(
      "set output '{}.png'\nset title '{}'\nset style data histogram\nset style histogram clustered gap 1\n"
      "set style fill solid 0.8 border -1\nset xlabel '{}'\nset ylabel '{}'\nset yrange [{}]\nplot ",
      name, title, xlabel, ylabel, yrange);
  for (std::size_t i = 0; i < conditions.size(); ++i)
    script += fmt::format("{}'{}' using {}:xtic(1) title '{}'", i ? ", " : "", file, i + 2, conditions[i]);
  return script + "\nset style data points\nset yrange [*:*]\nunset xlabel\nunset ylabel\nunset title\n";
}

// Histogram of `values` over [lo, hi] in `bins` bins, as fractions: "center fraction".
std::string histogram_rows(const std::vector<float>& values, double lo, double hi, int bins) {
  std::vector<double> count(static_cast<std::size_t>(bins), 0);
  const double width = hi > lo ? (hi - lo) / bins : 1;
  for (float v : values) {
    auto b = static_cast<int>((v - lo) / width);
    count[static_cast<std::size_t>(std::clamp(b, 0, bins - 1))] += 1;
  }
  std::string out;
  for (int b = 0; b < bins; ++b)
    out += fmt::format("{} {}\n", num(lo + (b + 0.5) * width),
                       num(values.empty() ? NAN : count[static_cast<std::size_t>(b)] / static_cast<double>(values.size())));
  return out;
}

std::vector<float> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

bool gnuplot_available() { return std::system("gnuplot --version > /dev/null 2>&1") == 0; }

namespace {

// The report `file` of `dir` (results.json, ablation.json) parsed, once gnuplot is
// known to be there and <dir>/plots/data exists.
Json plot_inputs(const std::string& dir, const std::string& file, const std::string& what, const std::string& command) {
  HARDY_THROW_IF_NOT_MSG(fs::exists(dir + "/" + file), "'{}' is not a finished {} (no {}): run hardy_dist {} first",
                         dir, what, file, command);
  HARDY_THROW_IF_NOT_MSG(gnuplot_available(),
                         "gnuplot is not installed: install the Debian package gnuplot-nox "
                         "(scripts/install-deps.sh does) and run hardy_dist plot {} again",
                         dir);
  fs::create_directories(dir + "/plots/data");
  return Json::parse(read_file(dir + "/" + file));
}

}  // namespace

std::vector<PlotFile> plot_run(const std::string& run_dir) {
  const Json results = plot_inputs(run_dir, "results.json", "run directory", "train");
  const std::string dir = run_dir + "/plots";
  const std::string primary = results.value("primary", "primary");
  std::vector<std::string> conditions;
  for (const auto& c : results.at("folds").at(0).at("conditions")) conditions.push_back(c.at("condition"));
  std::vector<PlotFile> files;
  std::string script = header();

  // Learning curves (metrics.csv), averaged over folds per epoch.
  if (fs::exists(run_dir + "/metrics.csv")) {
    const auto rows = read_metrics_csv(run_dir + "/metrics.csv");
    auto curve = [&](const std::string& stage, const std::string& file) {
      std::map<std::int64_t, std::vector<const MetricsRow*>> by_epoch;
      for (const auto& r : rows)
        if (r.stage == stage) by_epoch[r.epoch].push_back(&r);
      std::string out = "# epoch loss valid_primary test_primary (means over folds)\n";
      for (const auto& [epoch, list] : by_epoch) {
        std::vector<double> loss, valid, test;
        for (const auto* r : list) {
          loss.push_back(r->loss);
          valid.push_back(r->valid_primary);
          test.push_back(r->test_primary);
        }
        out += fmt::format("{} {} {} {}\n", epoch, num(mean_of(loss)), num(mean_of(valid)), num(mean_of(test)));
      }
      write_file_atomic(dir + "/data/" + file, out);
      return !by_epoch.empty();
    };
    std::vector<std::string> plotted;
    for (const auto& c : conditions)
      if (curve("student_" + c, "curve_" + c + ".dat")) plotted.push_back(c);
    const bool teacher = curve("teacher", "curve_teacher.dat");
    auto lines = [&](int column) {
      std::string out;
      for (const auto& c : plotted)
        out += fmt::format("{}'data/curve_{}.dat' using 1:{} with linespoints title '{}'", out.empty() ? "" : ", ",
                           c, column, c);
      return out;
    };
    if (!plotted.empty()) {
      script += "set output 'learning_curves.png'\nset multiplot layout 2,2 title 'Learning curves (means over folds)'\n"
                "set xlabel 'epoch'\n";
      script += "set title 'student: training loss'\nset ylabel 'loss'\nplot " + lines(2) + "\n";
      script += fmt::format("set title 'student: valid {}'\nset ylabel '{}'\nplot {}\n", primary, primary, lines(3));
      script += fmt::format("set title 'student: test {}'\nset ylabel '{}'\nplot {}\n", primary, primary, lines(4));
      if (teacher)
        script += "set title 'teacher: training loss'\nset ylabel 'loss'\n"
                  "plot 'data/curve_teacher.dat' using 1:2 with linespoints title 'teacher'\n";
      script += "unset multiplot\nunset xlabel\nunset ylabel\nunset title\n";
      files.push_back({dir + "/learning_curves.png", "learning curves per condition: training loss, valid and test " + primary});
    }
  }

  // K_q histogram per condition (results.json, summed over folds), as fractions.
  {
    std::map<std::string, std::vector<double>> hist;
    std::size_t width = 0;
    for (const auto& fold : results.at("folds"))
      for (const auto& c : fold.at("conditions")) {
        auto& h = hist[c.at("condition")];
        const auto& k = c.at("k_histogram");
        if (h.size() < k.size()) h.resize(k.size(), 0);
        for (std::size_t i = 0; i < k.size(); ++i) h[i] += k[i].get<double>();
        width = std::max(width, h.size());
      }
    if (width > 0) {
      std::string out = "# K_q " + fmt::format("{}", fmt::join(conditions, " ")) + " (fractions of the queries)\n";
      for (std::size_t k = 0; k < width; ++k) {
        out += std::to_string(k);
        for (const auto& c : conditions) {
          const auto& h = hist[c];
          double total = 0;
          for (double v : h) total += v;
          out += " " + num(k < h.size() && total > 0 ? h[k] / total : 0.0);
        }
        out += "\n";
      }
      write_file_atomic(dir + "/data/kq_histogram.dat", out);
      script += clustered_bars("kq_histogram", "K_q per condition (summed over folds)", "K_q",
                               "fraction of training samples", "0:*", conditions);
      files.push_back({dir + "/kq_histogram.png", "K_q histogram per condition"});
    }
  }

  // Accuracy by hardness quintile (results.json, best epoch on validation, fold means).
  {
    std::string out = "# quintile " + fmt::format("{}", fmt::join(conditions, " ")) + " (test accuracy)\n";
    bool any = false;
    std::vector<std::vector<double>> table(5, std::vector<double>(conditions.size(), NAN));
    for (std::size_t i = 0; i < conditions.size(); ++i)
      for (int q = 0; q < 5; ++q) {
        std::vector<double> folds;
        for (const auto& fold : results.at("folds"))
          for (const auto& c : fold.at("conditions")) {
            if (c.at("condition") != conditions[i] || c.at("selected_epoch").at("best_valid").is_null()) continue;
            const auto best = c.at("selected_epoch").at("best_valid").get<std::int64_t>();
            for (const auto& e : c.at("epochs"))
              if (e.at("epoch").get<std::int64_t>() == best && e.contains("test_quintile_accuracy") &&
                  !e.at("test_quintile_accuracy").at(static_cast<std::size_t>(q)).is_null())
                folds.push_back(e.at("test_quintile_accuracy").at(static_cast<std::size_t>(q)).get<double>());
          }
        table[static_cast<std::size_t>(q)][i] = mean_of(folds);
        any = any || !folds.empty();
      }
    if (any) {
      for (int q = 0; q < 5; ++q) {
        out += fmt::format("Q{}", q + 1);
        for (double v : table[static_cast<std::size_t>(q)]) out += " " + num(v);
        out += "\n";
      }
      write_file_atomic(dir + "/data/quintiles.dat", out);
      script += clustered_bars("accuracy_by_hardness",
                               "Test accuracy by quintile of the teacher''s hardness (best epoch on validation, "
                               "mean over folds)",
                               "hardness quintile (Q1 easiest)", "accuracy", "0:1", conditions, "quintiles");
      files.push_back({dir + "/accuracy_by_hardness.png", "test accuracy by hardness quintile per condition"});
    }
  }

  // Hd, Hi, H (fold artifacts, pooled over folds) and H against planted hardness.
  std::map<std::string, std::vector<float>> direct, indirect, unified;
  std::map<std::string, std::vector<std::int64_t>> ids;
  for (const auto& entry : fs::directory_iterator(run_dir)) {
    const auto path = entry.path().string() + "/hardness.pt";
    if (!entry.is_directory() || !fs::exists(path)) continue;
    try {
      const auto t = load_tensors(path, hardness_tensor_names(conditions));
      const auto h = hardness_from_tensors(t, conditions);
      auto rows = h.rows.contiguous();
      for (const auto& c : conditions) {
        auto add = [](std::vector<float>& to, const std::vector<float>& from) { to.insert(to.end(), from.begin(), from.end()); };
        add(direct[c], to_vector(h.direct.at(c)));
        add(indirect[c], to_vector(h.indirect.at(c)));
        add(unified[c], to_vector(h.unified.at(c)));
        ids[c].insert(ids[c].end(), rows.data_ptr<std::int64_t>(), rows.data_ptr<std::int64_t>() + rows.numel());
      }
    } catch (const Error& e) {
      log::warn("plot: {} left out: {}", path, e.what());
    }
  }
  if (!unified.empty()) {
    script += "set output 'hardness_distributions.png'\nset multiplot layout 3,1 title "
              "'Hardness per condition (training samples, pooled over folds)'\nset ylabel 'fraction'\n";
    const std::pair<const char*, std::map<std::string, std::vector<float>>*> scores[] = {
        {"Hd", &direct}, {"Hi", &indirect}, {"H", &unified}};
    for (const auto& [name, values] : scores) {
      script += fmt::format("set title '{}'\nset xlabel '{}'\nplot ", name, name);
      bool first = true;
      for (const auto& c : conditions) {
        const auto& v = (*values)[c];
        if (v.empty()) continue;
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        write_file_atomic(dir + "/data/" + name + "_" + c + ".dat",
                          "# center fraction\n" + histogram_rows(v, *lo, *hi, 30));
        script += fmt::format("{}'data/{}_{}.dat' using 1:2 with steps title '{}'", first ? "" : ", ", name, c, c);
        first = false;
      }
      script += "\n";
    }
    script += "unset multiplot\nunset xlabel\nunset ylabel\nunset title\n";
    files.push_back({dir + "/hardness_distributions.png", "distributions of Hd, Hi and H per condition"});

    // Planted hardness (synthetic corpora): the corpus named in the run's config.toml.
    torch::Tensor planted;
    try {
      const auto corpus = Config::load(run_dir + "/config.toml").string("data.corpus");
      if (!corpus.empty() && fs::exists(corpus)) {
        CorpusReader reader(corpus);
        planted = reader.read_rows({RowRange{0, reader.meta().rows}}, /*with_features=*/false).planted_hardness;
      }
    } catch (const Error& e) {
      log::warn("plot: no H against planted hardness: {}", e.what());
    }
    if (planted.defined()) {
      auto p = planted.to(torch::kFloat32).contiguous();
      const auto* pv = p.data_ptr<float>();
      script += "set output 'hardness_vs_planted.png'\nset title 'H against planted hardness (training samples)'\n"
                "set xlabel 'planted hardness'\nset ylabel 'H'\nplot ";
      bool first = true;
      for (const auto& c : conditions) {
        const auto& h = unified[c];
        const auto& id = ids[c];
        // At most 4,000 points per condition (an even stride), so the figure stays readable.
        const std::size_t stride = std::max<std::size_t>(1, h.size() / 4000);
        std::string out = "# planted H\n";
        for (std::size_t i = 0; i < h.size(); i += stride) out += fmt::format("{} {}\n", num(pv[id[i]]), num(h[i]));
        write_file_atomic(dir + "/data/planted_" + c + ".dat", out);
        script += fmt::format("{}'data/planted_{}.dat' using 1:2 with points pointtype 7 pointsize 0.4 title '{}'",
                              first ? "" : ", ", c, c);
        first = false;
      }
      script += "\nunset xlabel\nunset ylabel\nunset title\n";
      files.push_back({dir + "/hardness_vs_planted.png", "H against planted hardness per condition"});
    }
  }
  HARDY_THROW_IF_NOT_MSG(!files.empty(), "'{}' has nothing to plot (no metrics.csv, K_q histogram or hardness)",
                         run_dir);
  run_gnuplot(dir, "run", script);
  return files;
}

std::vector<PlotFile> plot_ablation(const std::string& dir) {
  const Json data = plot_inputs(dir, "ablation.json", "ablation", "ablate");
  const std::string out_dir = dir + "/plots";
  std::vector<std::string> scores;
  for (const auto& c : data.at("cells"))
    if (std::find(scores.begin(), scores.end(), c.at("score").get<std::string>()) == scores.end())
      scores.push_back(c.at("score"));
  std::string script = header() + fmt::format(
      "set output 'ablation_deltas.png'\nset multiplot layout {},1 title \"Difference against full: average over "
      "the missing-modality conditions, best epoch on validation\\n95 % t-interval with the fold as the unit "
      "(thick), hierarchical bootstrap (thin)\"\nset xzeroaxis lt -1\nset xtics rotate by -20\n"
      "set key outside right top\n",
      scores.size());
  for (std::size_t s = 0; s < scores.size(); ++s) {
    std::string rows = "# index row diff t_low t_high bootstrap_low bootstrap_high\n";
    int index = 0;
    for (const auto& c : data.at("cells")) {
      if (c.at("score") != scores[s] || c.at("condition") != "average" || c.at("selection") != "best_valid" ||
          c.at("row") == "full")
        continue;
      auto field = [&](const char* interval, const char* key) {
        return c.contains(interval) ? num(c.at(interval).at(key).get<double>()) : std::string("NaN");
      };
      const std::string diff = c.contains("t_interval") ? field("t_interval", "diff") : field("bootstrap", "diff");
      rows += fmt::format("{} {} {} {} {} {} {}\n", index++, c.at("row").get<std::string>(), diff,
                          field("t_interval", "low"), field("t_interval", "high"), field("bootstrap", "low"),
                          field("bootstrap", "high"));
    }
    const auto file = fmt::format("data/ablation_{}.dat", s);
    write_file_atomic(out_dir + "/" + file, rows);
    script += fmt::format(
        "set title '{}'\nset ylabel 'row - full'\nset xrange [-0.5:{}]\n"
        "plot '{}' using 1:3:4:5:xtic(2) with yerrorbars lw 3 pt 7 title 't-interval', "
        "'' using ($1+0.15):3:6:7 with yerrorbars lw 1 pt 6 title 'bootstrap'\n",
        scores[s], std::max(index, 1) - 0.5, file);
  }
  script += "unset multiplot\n";
  run_gnuplot(out_dir, "ablation", script);
  return {{out_dir + "/ablation_deltas.png", "each row's difference against full with both intervals"}};
}

}  // namespace hardy
