#include "train/timings_file.h"

#include "train/file_io.h"
#include "train/loop.h"
#include "train/timings_json.h"

namespace hardy {

void write_timings_file(Communicator& comm, const std::string& path) {
  std::map<std::string, StageTimes> combined;
  // Every rank reduces the same list, including stages it never ran (units run in
  // groups: a rank may have trained students only).
  for (const char* name : {"features", "teacher", "hardness", "curriculum", "student"}) stage_times(name);
  for (const auto& [stage, t] : all_stage_times()) {
    auto v = torch::tensor({t.data_s, t.compute_s, t.grad_sync_s, t.exchange_s, static_cast<double>(t.steps)},
                           torch::kFloat64);
    comm.allreduce(v, ReduceOp::Max)->wait();
    const auto* p = v.data_ptr<double>();
    combined[stage] = StageTimes{p[0], p[1], p[2], p[3], static_cast<std::int64_t>(p[4])};
  }
  if (comm.is_root()) write_file_atomic(path, timings_json(comm.size(), combined));
}

}  // namespace hardy
