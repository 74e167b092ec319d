#include "train/timings_file.h"

#include "train/loop.h"
#include "train/run_dir.h"

#include <nlohmann/json.hpp>

namespace hardy {

void write_timings_file(Communicator& comm, const std::string& path) {
  nlohmann::ordered_json stages = nlohmann::ordered_json::object();
  for (const auto& [stage, t] : all_stage_times()) {
    auto v = torch::tensor({t.data_s, t.compute_s, t.grad_sync_s, t.exchange_s, static_cast<double>(t.steps)},
                           torch::kFloat64);
    comm.allreduce(v, ReduceOp::Max)->wait();
    const auto* p = v.data_ptr<double>();
    stages[stage] = {{"data_s", p[0]},
                     {"compute_s", p[1]},
                     {"grad_sync_s", p[2]},
                     {"exchange_s", p[3]},
                     {"steps", static_cast<std::int64_t>(p[4])}};
  }
  nlohmann::ordered_json out = {{"ranks", comm.size()}, {"stages", stages}};
  if (comm.is_root()) write_file_atomic(path, out.dump(2) + "\n");
}

}  // namespace hardy
