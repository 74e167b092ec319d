// The cost model's speed-up of the paper's protocol over groups of ranks
// (docs/data-parallel.md, "Groups and units"): modelled, not measured.
//
//   build/bench/unit_schedule [--ranks 1,2,8,64] [--rows 5531] [--folds 5] [--conditions 6]
//
// For each corpus size (the given rows, and 10× them) and rank count: the group size
// `auto` picks, the modelled makespan of schedule_units, and the speed-up against one
// rank. Assumptions: the paper's model and epochs (hidden 256, depth 4, ff and decoder
// 1024, dims 512/1024/1024, teacher 200 epochs, students 50, K = 3, batch 16); each
// fold trains on 4/5 of the rows; a group of g ranks runs a unit g times faster (ideal
// data parallelism: an upper bound for g > 1); every rank is as fast as every other.
#include "train/group_layout.h"
#include "train/unit_plan.h"

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <iostream>
#include <sstream>

namespace po = boost::program_options;

int main(int argc, char** argv) {
  std::string ranks_text = "1,2,8,64";
  std::int64_t rows = 5531, folds = 5, conditions = 6;
  po::options_description options("unit_schedule options");
  options.add_options()("help,h", "this help")(
      "ranks", po::value(&ranks_text)->default_value(ranks_text), "rank counts, comma-separated")(
      "rows", po::value(&rows)->default_value(rows), "utterances of the corpus (IEMOCAP: 5531)")(
      "folds", po::value(&folds)->default_value(folds), "folds of the protocol")(
      "conditions", po::value(&conditions)->default_value(conditions), "conditions trained per fold");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, options), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << options;
    return 0;
  }
  std::vector<int> ranks;
  std::stringstream list(ranks_text);
  for (std::string item; std::getline(list, item, ',');) ranks.push_back(std::stoi(item));

  hardy::TrainSettings s;
  s.model.dims = {512, 1024, 1024};
  s.model.hidden = 256;
  s.model.depth = 4;
  s.model.ff_hidden = 1024;
  s.model.decoder_hidden = 1024;
  s.teacher_epochs = 200;
  s.student_epochs = 50;
  s.student_stage1_epochs = 25;
  const char* all[] = {"a", "t", "v", "at", "av", "tv", "atv"};
  for (std::int64_t c = 0; c < conditions && c < 7; ++c) s.conditions.push_back(all[c]);

  std::cout << "| corpus rows | ranks | auto group size | groups | modelled hours | speed-up vs 1 rank |\n";
  std::cout << "|---:|---:|---:|---:|---:|---:|\n";
  for (std::int64_t scale : {1, 10}) {
    const std::vector<std::int64_t> train_rows(static_cast<std::size_t>(folds), rows * scale * 4 / 5);
    const auto units = hardy::plan_units(s, train_rows);
    const std::vector<bool> pending(units.size(), true);
    const double one = hardy::schedule_units(units, pending, {1}).makespan;
    for (int p : ranks) {
      hardy::GroupSizeInputs in;
      in.world = p;
      in.units = folds * static_cast<std::int64_t>(s.conditions.size());
      in.batch_size = s.batch_size;
      const auto layout = hardy::plan_groups("auto", in);
      const auto plan = hardy::schedule_units(units, pending, layout.group_ranks);
      std::cout << fmt::format("| {} | {} | {} | {} | {:.1f} | {:.1f}× |\n", rows * scale, p, layout.group_size,
                               layout.groups(), plan.makespan / 3600, one / plan.makespan);
    }
  }
  return 0;
}
