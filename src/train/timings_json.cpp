#include "train/timings_json.h"

#include <nlohmann/json.hpp>

namespace hardy {

std::string timings_json(std::int64_t ranks, const std::map<std::string, StageTimes>& times) {
  // ordered_json keeps the fields in the order a reader of the file expects them.
  using Json = nlohmann::ordered_json;
  Json stages = Json::object();
  for (const auto& [stage, t] : times)
    stages[stage] = Json{{"data_s", t.data_s},
                         {"compute_s", t.compute_s},
                         {"grad_sync_s", t.grad_sync_s},
                         {"exchange_s", t.exchange_s},
                         {"steps", t.steps}};
  Json doc{{"ranks", ranks}, {"stages", std::move(stages)}};
  // Stage names are fixed ASCII identifiers; replace guards against the impossible.
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace hardy
