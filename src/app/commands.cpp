#include "app/commands.h"

#include "app/threads.h"

#include "core/error.h"
#include "core/log.h"
#include "core/modality.h"
#include "core/progress.h"
#include "data/corpus_reader.h"
#include "data/synth.h"
#include "data/validator.h"
#include "dist/device.h"
#include "dist/launch.h"
#include "research/ablation.h"
#include "research/plots.h"
#include "train/file_io.h"
#include "train/pipeline.h"

#include <cstdint>  // before FAISS 1.7.3's Index.h, which needs it

#include <H5public.h>
#include <faiss/Index.h>
#include <mpi.h>
#include <torch/version.h>
#include <unistd.h>
#ifdef HARDY_WITH_NCCL
#include <nccl.h>
#endif

#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>

namespace hardy::app {

namespace {

std::string require_corpus(const Config& config) {
  auto path = config.string("data.corpus");
  HARDY_THROW_IF_NOT_MSG(!path.empty(),
                         "no corpus given: pass --corpus FILE or set data.corpus in the config");
  return path;
}

std::string human_bytes(std::uintmax_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

// Rows and sequences per split or fold value.
struct Group {
  std::int64_t rows = 0;
  std::int64_t sequences = 0;
};

std::map<int, Group> group_by(const std::vector<SequenceRun>& runs, std::int8_t SequenceRun::*key) {
  std::map<int, Group> groups;
  for (const auto& s : runs) {
    auto& g = groups[s.*key];
    g.rows += s.count;
    ++g.sequences;
  }
  return groups;
}

void print_shards(std::ostream& out, const CorpusReader& reader, int world) {
  auto shards = plan_shards(reader.sequences(), world);
  out << fmt::format("sharding over {} rank{} (whole sequences, balanced by rows):\n", world,
                     world == 1 ? "" : "s");
  for (int r = 0; r < world; ++r) {
    const auto& ranges = shards[static_cast<size_t>(r)];
    std::int64_t sequences = 0;
    for (const auto& s : reader.sequences())
      for (const auto& range : ranges)
        if (s.begin >= range.begin && s.begin < range.end) ++sequences;
    out << fmt::format("  rank {}: {} rows, {} sequences{}\n", r, total_rows(ranges), sequences,
                       ranges.empty() ? " (empty shard)" : "");
  }
}

}  // namespace

namespace {

// The figures' links, appended to a report (results.md, ablation.md) as a section.
void link_figures(const std::string& report, const std::vector<PlotFile>& files) {
  std::string md = read_file(report) + "\n## Figures\n\nDrawn by `hardy_dist plot` (gnuplot; the numbers drawn are in plots/data/).\n\n";
  for (const auto& f : files)
    md += fmt::format("- [{}](plots/{})\n", f.what, std::filesystem::path(f.path).filename().string());
  write_file_atomic(report, md);
}

// At the end of train and ablate (output.plots): figures where gnuplot is installed, a
// warning where it is not or where drawing fails (the run's results stand).
void plot_after(const Context& ctx, bool ablation) {
  if (ctx.rank() != 0 || !ctx.config.boolean("output.plots")) return;
  const auto dir = ctx.config.string("output.dir");
  if (!gnuplot_available()) {
    log::warn("no figures: gnuplot is not installed (Debian package gnuplot-nox; scripts/install-deps.sh); "
              "set output.plots = false to silence this");
    return;
  }
  try {
    const auto files = ablation ? plot_ablation(dir) : plot_run(dir);
    link_figures(dir + (ablation ? "/ablation.md" : "/results.md"), files);
    log::info("plot: {} figure(s) in '{}/plots', linked from {}", files.size(), dir,
              ablation ? "ablation.md" : "results.md");
  } catch (const Error& e) {
    log::warn("no figures: {}", e.what());
  }
}

}  // namespace

int cmd_plot(const Context& ctx) {
  const auto dir = ctx.config.string("output.dir");
  const bool ablation = std::filesystem::exists(dir + "/ablation.json");
  const auto files = ablation ? plot_ablation(dir) : plot_run(dir);
  for (const auto& f : files) std::cout << f.path << "  " << f.what << "\n";
  return kExitOk;
}

int cmd_train(const Context& ctx) {
  configure_threads(ctx.config.integer("training.threads"), detect_launch().local_world);
  auto results = run_pipeline(ctx.config, ctx.comm);
  plot_after(ctx, false);
  if (ctx.rank() != 0) return kExitOk;
  std::cout << results_markdown(results);
  log::info("train: reports written to '{}/results.md', results.csv, results.json",
               ctx.config.string("output.dir"));
  return kExitOk;
}

int cmd_ablate(const Context& ctx) {
  const auto& base = ctx.config;
  configure_threads(base.integer("training.threads"), detect_launch().local_world);
  AblationRuns runs;
  runs.rows = ablation_rows(base.strings("ablation.rows"), base.strings("ablation.extra_rows"));
  const auto first_seed = static_cast<std::uint64_t>(base.integer("training.seed"));
  for (std::int64_t s = 0; s < base.integer("ablation.seeds"); ++s) runs.seeds.push_back(first_seed + s);
  const auto root = base.string("output.dir");
  const auto total = runs.rows.size() * runs.seeds.size();
  log::info("ablate: {} row(s) [{}] x {} seed(s) = {} runs under '{}'", runs.rows.size(),
            fmt::join([&] {
              std::vector<std::string> names;
              for (const auto& r : runs.rows) names.push_back(r.name);
              return names;
            }(),
                      ", "),
            runs.seeds.size(), total, root);
  runs.results.assign(runs.rows.size(), std::vector<RunResults>(runs.seeds.size()));
  // Seed by seed, full first: the other rows of a seed start from full's artifacts.
  std::size_t done = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t s = 0; s < runs.seeds.size(); ++s) {
    const auto full_dir = fmt::format("{}/full/seed{}", root, runs.seeds[s]);
    for (std::size_t r = 0; r < runs.rows.size(); ++r) {
      const auto& row = runs.rows[r];
      const auto dir = fmt::format("{}/{}/seed{}", root, row.name, runs.seeds[s]);
      if (ctx.rank() == 0 && r > 0) {
        const int shared = share_prepared_artifacts(full_dir, dir);
        if (shared > 0) log::info("ablate: {} seed {}: {} preparation file(s) shared from full", row.name, runs.seeds[s], shared);
      }
      ctx.comm->barrier();
      auto overrides = row.overrides;
      overrides.push_back(fmt::format("training.seed={}", runs.seeds[s]));
      overrides.push_back("output.dir=" + dir);
      const auto config = Config::parse(base.to_toml(), fmt::format("ablation row '{}'", row.name), overrides);
      log::info("ablate: run {}/{}: row {} ({}), seed {}", done + 1, total, row.name, row.description, runs.seeds[s]);
      runs.results[r][s] = run_pipeline(config, ctx.comm);
      ++done;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      log::info("ablate: {}/{} runs done in {} (ETA {})", done, total, Progress::format_duration(elapsed),
                Progress::format_duration(elapsed / static_cast<double>(done) * static_cast<double>(total - done)));
    }
  }
  if (ctx.rank() != 0) return kExitOk;
  write_ablation_reports(runs, root);
  log::info("ablate: wrote '{}/ablation.md', ablation.csv, ablation.json", root);
  plot_after(ctx, true);
  return kExitOk;
}

int cmd_synth(const Context& ctx) {
  const auto& c = ctx.config;
  SynthOptions o;
  o.out = c.string("synth.out");
  o.dialogues = c.integer("synth.dialogues");
  o.utterances = c.integer("synth.utterances");
  o.min_length = c.integer("synth.min_length");
  o.max_length = c.integer("synth.max_length");
  o.classes = static_cast<int>(c.integer("synth.classes"));
  o.task = *parse_task(c.string("synth.task"));
  o.targets = c.strings("synth.targets");
  o.class_prior = c.reals("synth.class_prior");
  o.speakers = c.integer("synth.speakers");
  o.split_names = c.strings("synth.split_names");
  o.split_fractions = c.reals("synth.split_fractions");
  o.modalities = ModalitySet(c.strings("synth.modalities"), c.string("synth.modality_codes"));
  o.dims = c.integers("synth.dims");
  o.folds = static_cast<int>(c.integer("synth.folds"));
  o.conflict_rate = c.real("synth.conflict_rate");
  o.noise_rate = c.real("synth.noise_rate");
  o.signal = c.real("synth.signal");
  o.seed = static_cast<std::uint64_t>(c.integer("synth.seed"));
  o.name = c.string("synth.name");
  log::info("synth: writing '{}' ({} with dims {}, {} classes, seed {})", o.out, o.modalities.describe(),
            fmt::join(o.dims, "/"), o.classes, o.seed);
  auto summary = synthesize_corpus(o);
  log::info("synth: wrote {} utterances in {} dialogues to '{}' ({}) in {:.1f}s", summary.rows,
               summary.sequences, o.out, human_bytes(std::filesystem::file_size(o.out)),
               summary.seconds);
  return kExitOk;
}

int cmd_validate(const Context& ctx) {
  ValidateOptions options;
  options.expect_dims = ctx.config.integers("data.expect_dims");
  auto report = validate_corpus(require_corpus(ctx.config), options);
  if (report.ok()) {
    std::cout << report.to_text();
    return kExitOk;
  }
  std::cerr << report.to_text();
  return kExitDefects;
}

int cmd_inspect(const Context& ctx, std::int64_t plan_ranks) {
  auto path = require_corpus(ctx.config);
  CorpusReader reader(path);
  const auto& meta = reader.meta();
  const auto& runs = reader.sequences();

  if (ctx.rank() == 0) {
    auto& out = std::cout;
    out << fmt::format("corpus:    {}{} ({}, format_version {})\n", path,
                       meta.name.empty() ? "" : " [" + meta.name + "]",
                       human_bytes(std::filesystem::file_size(path)), meta.format_version);
    out << fmt::format("task:      {}", task_name(meta.task));
    if (meta.task == Task::Classification) out << fmt::format(", {} classes", meta.classes);
    if (meta.task == Task::Regression)
      out << fmt::format(", targets {} in [{}, {}]", fmt::join(meta.targets, ", "), meta.target_min, meta.target_max);
    if (!meta.class_names.empty())
      out << fmt::format(" ({})", fmt::join(meta.class_names, ", "));
    out << "\n";
    std::int64_t min_len = runs.empty() ? 0 : runs.front().count, max_len = min_len;
    for (const auto& s : runs) {
      min_len = std::min(min_len, s.count);
      max_len = std::max(max_len, s.count);
    }
    out << fmt::format("rows:      {} utterances in {} sequences (length min {}, mean {:.1f}, max {})\n",
                       meta.rows, runs.size(), min_len, max_len == 0 ? 0.0 : double(meta.rows) / runs.size(),
                       max_len);
    std::vector<std::string> widths;
    for (int m = 0; m < meta.modalities.size(); ++m)
      widths.push_back(fmt::format("{} {}", meta.modalities.name(m), meta.dims[static_cast<std::size_t>(m)]));
    out << fmt::format("features:  {} (float32)\n", fmt::join(widths, ", "));

    // Labels and planted hardness: read without the feature columns.
    auto all = reader.read_rows({RowRange{0, meta.rows}}, /*with_features=*/false);
    if (meta.task == Task::Classification) {
      auto counts = torch::bincount(all.label, {}, meta.classes);
      out << "labels:   ";
      for (int k = 0; k < meta.classes; ++k) {
        auto n = counts[k].item<std::int64_t>();
        std::string name = k < static_cast<int>(meta.class_names.size()) ? meta.class_names[k]
                                                                         : std::to_string(k);
        out << fmt::format(" {}: {} ({:.1f}%)", name, n, meta.rows ? 100.0 * n / meta.rows : 0.0);
      }
      out << "\n";
    } else if (meta.task == Task::Regression && meta.rows > 0) {
      out << "targets:  ";
      for (std::size_t k = 0; k < meta.targets.size(); ++k) {
        auto column = all.label.select(1, static_cast<std::int64_t>(k));
        out << fmt::format(" {} mean {:.3f} (min {:.3f}, max {:.3f});", meta.targets[k], column.mean().item<float>(),
                           column.min().item<float>(), column.max().item<float>());
      }
      out << "\n";
    } else if (meta.rows > 0) {
      auto& l = all.label;
      out << fmt::format("scores:    mean {:.3f}, min {:.3f}, max {:.3f}; positive {}, negative {}, zero {}\n",
                         l.mean().item<float>(), l.min().item<float>(), l.max().item<float>(),
                         (l > 0).sum().item<std::int64_t>(), (l < 0).sum().item<std::int64_t>(),
                         (l == 0).sum().item<std::int64_t>());
    }
    if (meta.has_split) {
      out << "split:    ";
      for (const auto& [k, g] : group_by(runs, &SequenceRun::split))
        out << fmt::format(" {} {} rows / {} sequences;",
                           k >= 0 && k < static_cast<std::int64_t>(meta.split_names.size())
                               ? meta.split_names[static_cast<std::size_t>(k)]
                               : "?",
                           g.rows, g.sequences);
      out << "\n";
    }
    if (meta.has_fold) {
      out << fmt::format("folds:     {}:", meta.folds);
      for (const auto& [k, g] : group_by(runs, &SequenceRun::fold))
        out << fmt::format(" {} rows / {} sequences;", g.rows, g.sequences);
      out << "\n";
    }
    if (meta.has_planted && meta.rows > 0) {
      auto q = torch::quantile(all.planted_hardness,
                               torch::tensor({0.0f, 0.25f, 0.5f, 0.75f, 1.0f}));
      out << fmt::format("planted hardness: mean {:.3f}; min {:.3f}, q25 {:.3f}, median {:.3f}, q75 {:.3f}, max {:.3f}\n",
                         all.planted_hardness.mean().item<float>(), q[0].item<float>(),
                         q[1].item<float>(), q[2].item<float>(), q[3].item<float>(),
                         q[4].item<float>());
    }
    if (plan_ranks > 0) print_shards(out, reader, static_cast<int>(plan_ranks));
  }

  if (ctx.world() > 1) {
    // Each rank reads its own shard from the file; the gathered row ids must cover
    // the corpus exactly once, in order.
    auto shard = reader.read_shard(ctx.rank(), ctx.world());
    auto rows = ctx.comm->allgatherv(shard.row);
    auto counts = ctx.comm->allgatherv(torch::tensor({shard.size()}, torch::kInt64));
    bool exact = rows.size(0) == meta.rows &&
                 rows.equal(torch::arange(meta.rows, torch::kInt64));
    if (ctx.rank() == 0) {
      std::cout << fmt::format("read over {} ranks: rows per rank {}; every row read exactly once: {}\n",
                               ctx.world(), fmt::join(std::vector<std::int64_t>(counts.data_ptr<std::int64_t>(),
                                                                                 counts.data_ptr<std::int64_t>() + counts.numel()),
                                                      ", "),
                               exact ? "yes" : "NO");
    }
    HARDY_THROW_IF_NOT_MSG(exact, "sharded read of '{}' did not cover every row once", path);
  }
  return kExitOk;
}

int cmd_config(const Context& ctx, bool reference) {
  std::cout << (reference ? config_reference_markdown() : ctx.config.to_toml());
  return kExitOk;
}

int cmd_env(const Context& ctx) {
  auto launch = detect_launch();
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "unset");
  };
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  // Exactly what training uses (dist/device.h), or why it cannot.
  std::string device;
  try {
    device = select_rank_device(ctx.config.string("training.device"), launch,
                                                   ctx.config.string("dist.backend")).str();
  } catch (const Error& e) {
    device = fmt::format("none ({})", e.what());
  }
  // The threads exactly as `train` sets them.
  configure_threads(ctx.config.integer("training.threads"), launch.local_world);
  std::cout << fmt::format(
      "rank {} of {} (local rank {} of {}) via {} on {}; device {}; training.threads {}; {}; "
      "OMP_NUM_THREADS {}; OPENBLAS_NUM_THREADS {}; dist.backend {}\n",
      launch.rank, launch.world, launch.local_rank, launch.local_world, launch.launcher, host,
      device, ctx.config.integer("training.threads"), thread_report(), env("OMP_NUM_THREADS"),
      env("OPENBLAS_NUM_THREADS"), ctx.config.string("dist.backend"));
  return kExitOk;
}

int cmd_version() {
  unsigned h5_major = 0, h5_minor = 0, h5_release = 0;
  H5get_libversion(&h5_major, &h5_minor, &h5_release);
  char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(mpi_version, &length);
  std::string mpi(mpi_version, static_cast<size_t>(length));
  mpi = mpi.substr(0, mpi.find_first_of(",\n"));
  std::cout << fmt::format("hardy_dist {}\n", HARDY_VERSION);
  std::cout << fmt::format("  LibTorch {}{} from {}\n", TORCH_VERSION,
#ifdef HARDY_WITH_CUDA
                           " (CUDA)",
#else
                           " (CPU)",
#endif
                           HARDY_TORCH_ORIGIN);
  std::cout << fmt::format("           {}; {} by default (training.threads sets it)\n",
                           libtorch_cpu_report(), thread_report());
  std::cout << fmt::format("  FAISS    {}.{}.{}{}\n", FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR,
                           FAISS_VERSION_PATCH,
#ifdef HARDY_WITH_FAISS_GPU
                           " (GPU)"
#else
                           " (CPU)"
#endif
  );
  std::cout << fmt::format("  MPI      {}\n", mpi);
  std::cout << fmt::format("  HDF5     {}.{}.{}\n", h5_major, h5_minor, h5_release);
#ifdef HARDY_WITH_NCCL
  int nccl = 0;
  ncclGetVersion(&nccl);
  std::cout << fmt::format("  NCCL     {}.{}.{} loaded (compiled against {}.{}.{}; {}; used with CUDA tensors)\n",
                           nccl / 10000, nccl / 100 % 100, nccl % 100, NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH,
                           HARDY_NCCL_ORIGIN);
#else
  std::cout << "  NCCL     not compiled in\n";
#endif
  return kExitOk;
}

}  // namespace hardy::app
