// Everything of one training run that is not per fold: the process group (size 1 on
// one process) and the per-row columns the reports need for every row.
#pragma once

#include "data/corpus.h"
#include "dist/communicator.h"

#include <torch/torch.h>

#include <memory>

namespace hardy {

struct RunScope {
  std::shared_ptr<Communicator> comm;
  CorpusRows labels;  // every row of the corpus, without features
  // output.strict: a damaged manifest or artifact stops the run instead of being moved
  // aside and recomputed (train/run_file_error.h).
  bool strict = false;

  // Rank 0 writes the run directory's files; every rank reads them.
  bool root() const { return comm->is_root(); }
  void barrier() const { comm->barrier(); }
  // Rank 0's value of `decision`, on every rank: decisions such as stage skips are
  // taken once, so no rank goes its own way.
  bool agree(bool decision) const {
    auto t = torch::tensor({decision ? 1 : 0}, torch::kInt32);
    comm->broadcast(t, 0)->wait();
    return t.item<int>() != 0;
  }
};

}  // namespace hardy
