// hardy_dist's command line: Boost.Program_options parses the flags; every
// command flag is sugar for one config key, so a flag and `--set key=value` mean
// the same thing and share the config's validation and documentation.
#include "app/cli.h"

#include "app/commands.h"
#include "app/rank_agreement.h"
#include "core/error.h"
#include "core/log.h"
#include "core/stop_request.h"
#include "dist/device.h"
#include "dist/launch.h"
#include "dist/local_communicator.h"
#include "dist/make_communicator.h"
#include "dist/mpi_communicator.h"

#include <boost/program_options.hpp>

#include <iostream>
#include <map>
#include <sstream>

namespace po = boost::program_options;

namespace hardy::app {

namespace {

struct FlagKey {
  const char* flag;
  const char* key;
};

struct Command {
  const char* name;
  const char* summary;
  std::vector<FlagKey> flags;  // command flags, each setting one config key
  bool uses_mpi;               // may run under mpirun with several ranks
};

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"train",
       "run the whole HARDY-MER pipeline: features, teacher, hardness, curriculum, students, "
       "evaluation, report (the default command)",
       {{"corpus", "data.corpus"}, {"out", "output.dir"}, {"folds", "data.folds"},
        {"conditions", "data.conditions"}},
       true},
      {"ablate",
       "train the rows of the paper's Table 2 and the controls over several seeds, reusing shared "
       "stages, and write ablation.md/.csv/.json with intervals (docs/ablation.md)",
       {{"corpus", "data.corpus"}, {"out", "output.dir"}, {"seeds", "ablation.seeds"}, {"rows", "ablation.rows"},
        {"folds", "data.folds"}, {"conditions", "data.conditions"}},
       true},
      {"plot",
       "draw PNG figures with gnuplot: of a run directory (learning curves, K_q, hardness) or of an "
       "ablation (differences against full with intervals): hardy_dist plot RUN_DIR (docs/plots.md)",
       {{"out", "output.dir"}},
       false},
      {"synth",
       "write an IEMOCAP-like synthetic corpus with planted difficulty (docs/synthetic-data.md)",
       {{"out", "synth.out"},
        {"dialogues", "synth.dialogues"},
        {"utterances", "synth.utterances"},
        {"min-length", "synth.min_length"},
        {"max-length", "synth.max_length"},
        {"classes", "synth.classes"},
        {"task", "synth.task"},
        {"dims", "synth.dims"},
        {"folds", "synth.folds"},
        {"conflict-rate", "synth.conflict_rate"},
        {"noise-rate", "synth.noise_rate"},
        {"signal", "synth.signal"},
        {"seed", "synth.seed"},
        {"name", "synth.name"}},
       false},
      {"validate",
       "check a corpus against docs/corpus-format.md; list every defect with row indices",
       {{"corpus", "data.corpus"}, {"expect-dims", "data.expect_dims"}},
       false},
      {"inspect",
       "summarise a corpus: sizes, labels, splits, folds, planted hardness, sharding",
       {{"corpus", "data.corpus"}},
       true},
      {"config", "print the effective configuration as TOML (--reference: every key)", {}, false},
      {"version", "print the versions of hardy_dist and the libraries it was built with", {},
       false},
      {"env",
       "print, on every rank, where this process sits in the job (launcher, rank, local "
       "rank, threads, device): a check for job scripts",
       {},
       false},
  };
  return table;
}

const Command* find_command(const std::string& name) {
  for (const auto& c : commands())
    if (name == c.name) return &c;
  return nullptr;
}

std::string value_text(const Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return x.empty() ? "\"\"" : x;
        } else if constexpr (std::is_arithmetic_v<T>) {
          return fmt::format("{}", x);
        } else {
          std::string out;
          for (size_t i = 0; i < x.size(); ++i) out += (i ? "," : "") + fmt::format("{}", x[i]);
          return out.empty() ? "(empty)" : out;
        }
      },
      v);
}

po::options_description common_options() {
  po::options_description o("Common options");
  o.add_options()
      ("config,c", po::value<std::string>()->value_name("FILE"),
       "TOML configuration file (docs/config.md lists every key)")
      ("set", po::value<std::vector<std::string>>()->composing()->value_name("KEY=VALUE"),
       "override one config key, e.g. --set model.hidden=128 (repeatable)")
      ("log-level", po::value<std::string>()->value_name("LEVEL"),
       "trace, debug, info, warn, error or off (= --set output.log_level=LEVEL)")
      ("help,h", "show help (hardy_dist <command> --help for a command's flags)");
  return o;
}

po::options_description command_options(const Command& c) {
  po::options_description o(fmt::format("Options of '{}'", c.name));
  for (const auto& f : c.flags) {
    const KeySpec* spec = find_key_spec(f.key);
    HARDY_THROW_IF_NOT_MSG(spec, "flag --{} maps to unknown config key {}", f.flag, f.key);
    std::string help = fmt::format("{} [{}; default {}]", spec->doc, f.key,
                                   value_text(spec->default_value));
    o.add_options()(f.flag, po::value<std::string>()->value_name("VALUE"), help.c_str());
  }
  if (std::string(c.name) == "inspect")
    o.add_options()("shards", po::value<std::int64_t>()->value_name("P"),
                    "also print how the corpus splits over P ranks");
  if (std::string(c.name) == "config")
    o.add_options()("reference", "print the reference of every key (Markdown) instead");
  return o;
}

void print_usage(std::ostream& out) {
  out << "hardy_dist: data-parallel HARDY-MER (hardness-aware dynamic curriculum learning for\n"
         "multimodal emotion recognition with missing modalities)\n\n"
         "Usage:\n"
         "  hardy_dist <command> [--config FILE] [--set KEY=VALUE ...] [command flags]\n"
         "  hardy_dist --config FILE ...              (same as: hardy_dist train --config FILE)\n"
         "  mpirun -np P hardy_dist <command> ...     (commands that run on several ranks)\n\n"
         "Commands:\n";
  for (const auto& c : commands()) out << fmt::format("  {:<10} {}\n", c.name, c.summary);
  out << "\n" << common_options() << "\n";
  out << "Settings are read in this order, later ones winning: built-in defaults, the\n"
         "--config file, --set options, command flags. Unknown keys are errors.\n\n"
         "Exit codes: 0 success, 1 validate found defects, 2 usage, config or input error,\n"
         "3 a peer rank was lost, 75 stopped on SIGTERM/SIGUSR1 (re-run to resume).\n"
         "Docs: README.md, docs/pipeline.md, docs/config.md, docs/corpus-format.md,\n"
         "docs/synthetic-data.md.\n";
}

int dispatch(const Command& command, const po::variables_map& vm, Context& ctx) {
  std::string name = command.name;
  if (name == "train") return cmd_train(ctx);
  if (name == "ablate") return cmd_ablate(ctx);
  if (name == "plot") return cmd_plot(ctx);
  if (name == "synth") return cmd_synth(ctx);
  if (name == "validate") return cmd_validate(ctx);
  if (name == "inspect")
    return cmd_inspect(ctx, vm.count("shards") ? vm["shards"].as<std::int64_t>() : 0);
  if (name == "config") return cmd_config(ctx, vm.count("reference") > 0);
  if (name == "env") return cmd_env(ctx);
  return cmd_version();
}

}  // namespace

int run_cli(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_usage(std::cerr);
    return kExitError;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(std::cout);
    return kExitOk;
  }
  if (args[0] == "--version") return cmd_version();
  // `hardy_dist --config F ...` (no command) trains, as `mpirun -np 8 hardy_dist
  // --config configs/iemocap4.toml` should.
  if (args[0].rfind("-", 0) == 0) args.insert(args.begin(), "train");
  const Command* command = find_command(args[0]);
  if (!command) {
    std::cerr << fmt::format("hardy_dist: unknown command '{}'. Commands: ", args[0]);
    for (const auto& c : commands()) std::cerr << c.name << ' ';
    std::cerr << "\nRun 'hardy_dist --help' for usage.\n";
    return kExitError;
  }
  args.erase(args.begin());

  po::options_description all;
  all.add(command_options(*command)).add(common_options());
  po::variables_map vm;
  try {
    // `hardy_dist plot RUN_DIR`: the directory may be given without --out.
    // (A positional description is given to plot only: other commands keep ignoring
    // stray words as they always did.)
    po::command_line_parser parser(args);
    parser.options(all);
    po::positional_options_description positional;
    if (std::string(command->name) == "plot") {
      positional.add("out", 1);
      parser.positional(positional);
    }
    po::store(parser.run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << fmt::format("hardy_dist {}: {}. Run 'hardy_dist {} --help' for its flags.\n",
                             command->name, e.what(), command->name);
    return kExitError;
  }
  if (vm.count("help")) {
    std::cout << fmt::format("hardy_dist {}: {}\n\n", command->name, command->summary)
              << command_options(*command) << "\n"
              << common_options();
    return kExitOk;
  }

  LaunchInfo launch;
  Context ctx{Config::defaults(), local_world()};
  try {
    launch = detect_launch();
    // Flags are applied after --set so that an explicit flag wins.
    std::vector<std::string> overrides;
    if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
    if (vm.count("log-level"))
      overrides.push_back("output.log_level=" + vm["log-level"].as<std::string>());
    for (const auto& f : command->flags)
      if (vm.count(f.flag)) overrides.push_back(std::string(f.key) + "=" + vm[f.flag].as<std::string>());
    ctx.config = vm.count("config") ? Config::load(vm["config"].as<std::string>(), overrides)
                                    : Config::parse("", "", overrides);
  } catch (const Error& e) {
    std::cerr << "hardy_dist " << command->name << ": error: " << e.what() << "\n";
    return kExitError;
  }

  // A single-process command runs on rank 0 only; `env` reports from every rank.
  if (launch.distributed() && !command->uses_mpi && launch.rank != 0 &&
      std::string(command->name) != "env")
    return kExitOk;
  log::init(launch.rank, launch.world, ctx.config.string("output.log_level"),
            ctx.config.boolean("output.log_all_ranks"));
  try {
    if (command->uses_mpi) {
      if (launch.distributed()) {
        // Before any other collective: every rank runs the same job (rank_agreement.h).
        auto world = mpi_world();
        world->set_timeout_s(ctx.config.real("dist.timeout_s"));
        require_same_job(*world, job_fingerprint(ctx.config, command->name, launch.world));
      }
      // The rank's device first (one GPU per local rank), then its process group.
      const auto device = select_rank_device(ctx.config.string("training.device"), launch,
                                                   ctx.config.string("dist.backend"));
      if (launch.distributed()) {
        ctx.comm = make_communicator(ctx.config.string("dist.backend"),
                                     device.is_cuda() ? device.index() : 0);
        ctx.comm->set_timeout_s(ctx.config.real("dist.timeout_s"));
      }
    }
    // SIGTERM / SIGUSR1 (a time limit's warning, a preemption): finish the step,
    // checkpoint, exit kExitStopped (docs/operations.md, "Signals").
    if (std::string(command->name) == "train" || std::string(command->name) == "ablate") install_stop_handlers();
    return dispatch(*command, vm, ctx);
  } catch (const StopRequested& e) {
    // Every rank of the run agreed on this stop and saved its state: not an error.
    log::warn("{}. Exit status {}: re-run the same command (or requeue the job) to resume", e.what(),
              kExitStopped);
    return kExitStopped;
  } catch (const std::exception& e) {
    log::error("{}", e.what());
    // The other ranks may be waiting in a collective for this one: end them all.
    if (ctx.world() > 1) ctx.comm->abort(kExitError);
    return kExitError;
  }
}

}  // namespace hardy::app
