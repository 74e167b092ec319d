// Sharded exact search and the distributed curriculum build (docs/design.md §6, "Distributed
// exact search"). A benchmark, not a test: it prints numbers (see bench/README.md).
//
//   mpirun -np P build/bench/sharded_search [--rows 200000] [--dim 256] [--queries 4096]
//       [--k 4] [--index flat|ivf|hnsw] [--threads 1] [--repeat 3]
//       [--mode search|curriculum|loop] [--seconds 60] [--timeout-s 300]
//
// search:     queries/s of ShardedRetrieval::search over `rows` vectors split over
//             the P ranks (each rank generates only its own rows), bytes moved per
//             query, and, at P = 1, plain single-process FAISS on the same rows.
//             For ivf/hnsw also recall@k against the exact (flat) sharded search.
// curriculum: build_curriculum for every training row (= query) over 3 modalities of
//             dim `dim` (condition atv, K = k − 1), time and peak RSS per rank.
// loop:       searches until `seconds` pass (for the kill test); prints each rank's
//             pid first.
#include "dist/communicator.h"
#include "dist/mpi_communicator.h"
#include "retrieval/curriculum.h"
#include "retrieval/sharded_retrieval.h"

#include <faiss/IndexFlat.h>
#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

using namespace hardy;

namespace {

struct Args {
  std::int64_t rows = 200000, dim = 256, queries = 4096, k = 4, threads = 1, repeat = 3;
  std::string index = "flat", mode = "search";
  double seconds = 60, timeout_s = 300;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--rows") a.rows = std::stoll(v);
    else if (k == "--dim") a.dim = std::stoll(v);
    else if (k == "--queries") a.queries = std::stoll(v);
    else if (k == "--k") a.k = std::stoll(v);
    else if (k == "--threads") a.threads = std::stoll(v);
    else if (k == "--repeat") a.repeat = std::stoll(v);
    else if (k == "--index") a.index = v;
    else if (k == "--mode") a.mode = v;
    else if (k == "--seconds") a.seconds = std::stod(v);
    else if (k == "--timeout-s") a.timeout_s = std::stod(v);
    else {
      std::cerr << "unknown flag " << k << "\n";
      std::exit(2);
    }
  }
  return a;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Rows [begin, end) of a clustered synthetic database (256 centres + noise), the same
// values whichever rank generates them: each block of 4096 rows has its own seed.
torch::Tensor make_rows(std::int64_t begin, std::int64_t end, std::int64_t dim, std::uint64_t seed) {
  constexpr std::int64_t kBlock = 4096;
  torch::manual_seed(seed);
  auto centres = torch::randn({256, dim});
  std::vector<torch::Tensor> parts;
  for (std::int64_t b = begin / kBlock; b * kBlock < end; ++b) {
    torch::manual_seed(seed * 1000003 + static_cast<std::uint64_t>(b) + 1);
    auto which = torch::randint(0, 256, {kBlock}, torch::kInt64);
    auto block = centres.index_select(0, which) + 0.5 * torch::randn({kBlock, dim});
    auto lo = std::max(begin, b * kBlock), hi = std::min(end, (b + 1) * kBlock);
    parts.push_back(block.slice(0, lo - b * kBlock, hi - b * kBlock));
  }
  return parts.empty() ? torch::empty({0, dim}) : torch::cat(parts).contiguous();
}

std::pair<std::int64_t, std::int64_t> my_range(std::int64_t n, int rank, int size) {
  return {n * rank / size, n * (rank + 1) / size};
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

IndexOptions index_options(const std::string& kind) {
  IndexOptions o;
  o.kind = parse_index_kind(kind);
  return o;
}

void run_search(Communicator& comm, std::shared_ptr<Communicator> shared, const Args& a) {
  const int r = comm.rank(), p = comm.size();
  auto [begin, end] = my_range(a.rows, r, p);
  auto rows = make_rows(begin, end, a.dim, 1);
  auto ids = torch::arange(begin, end, torch::kInt64);
  auto [qb, qe] = my_range(a.queries, r, p);
  auto queries = make_rows(qb, qe, a.dim, 2);
  PerModality<torch::Tensor> features{rows, rows.slice(1, 0, 1), rows.slice(1, 0, 1)};
  PerModality<IndexOptions> options{index_options(a.index), IndexOptions{}, IndexOptions{}};
  double t0 = now();
  ShardedRetrieval sharded(shared, features, ids, options);
  comm.barrier();
  double build = now() - t0;
  sharded.search(0, queries, a.k);  // warm-up
  auto before = sharded.traffic();
  comm.barrier();
  t0 = now();
  Neighbours found;
  for (std::int64_t i = 0; i < a.repeat; ++i) found = sharded.search(0, queries, a.k);
  comm.barrier();
  double seconds = (now() - t0) / static_cast<double>(a.repeat);
  auto traffic = sharded.traffic();
  auto bytes = torch::tensor({static_cast<double>(traffic.query_bytes - before.query_bytes),
                              static_cast<double>(traffic.result_bytes - before.result_bytes)},
                             torch::kFloat64);
  comm.allreduce(bytes, ReduceOp::Sum)->wait();
  auto rss = comm.allgatherv(torch::tensor({peak_rss_mib()}, torch::kFloat64));

  double recall = NAN;
  if (a.index != "flat") {
    PerModality<IndexOptions> flat(3);
    ShardedRetrieval exact(shared, features, ids, flat);
    auto truth = exact.search(0, queries, a.k);
    double hits = 0;
    for (std::int64_t q = 0; q < queries.size(0); ++q)
      for (std::int64_t j = 0; j < a.k; ++j)
        hits += (found.ids[q] == truth.ids[q][j]).any().item<bool>() ? 1 : 0;
    auto t = torch::tensor({hits}, torch::kFloat64);
    comm.allreduce(t, ReduceOp::Sum)->wait();
    recall = t.item<double>() / static_cast<double>(a.queries * a.k);
  }

  double plain_qps = NAN;
  if (p == 1 && a.index == "flat") {
    faiss::IndexFlatL2 plain(a.dim);
    plain.add(rows.size(0), rows.data_ptr<float>());
    std::vector<float> d(static_cast<size_t>(a.queries * a.k));
    std::vector<faiss::Index::idx_t> l(d.size());
    plain.search(a.queries, queries.data_ptr<float>(), a.k, d.data(), l.data());  // warm-up
    t0 = now();
    for (std::int64_t i = 0; i < a.repeat; ++i)
      plain.search(a.queries, queries.data_ptr<float>(), a.k, d.data(), l.data());
    plain_qps = static_cast<double>(a.queries) / ((now() - t0) / static_cast<double>(a.repeat));
  }
  if (r == 0) {
    double qps = static_cast<double>(a.queries) / seconds;
    std::cout << fmt::format(
        "| {} | {} | {} | {} | {} | {:.0f} | {} | {:.0f} / {:.0f} | {} | {:.1f} | {:.0f} |\n", p,
        a.index, a.rows, a.dim, a.k, qps,
        std::isnan(plain_qps) ? std::string("–") : fmt::format("{:.0f} ({:.2f}×)", plain_qps, qps / plain_qps),
        bytes[0].item<double>() / (a.queries * a.repeat), bytes[1].item<double>() / (a.queries * a.repeat),
        std::isnan(recall) ? std::string("–") : fmt::format("{:.3f}", recall), build,
        rss.max().item<double>());
  }
}

void run_curriculum(Communicator& comm, std::shared_ptr<Communicator> shared, const Args& a) {
  const int r = comm.rank(), p = comm.size();
  auto [begin, end] = my_range(a.rows, r, p);
  PerModality<torch::Tensor> features;
  for (int m = 0; m < 3; ++m) features.push_back(make_rows(begin, end, a.dim, 10 + m));
  auto ids = torch::arange(begin, end, torch::kInt64);
  torch::manual_seed(77 + r);
  auto hardness = torch::rand({end - begin});
  PerModality<IndexOptions> options{index_options(a.index), index_options(a.index),
                                      index_options(a.index)};
  options[1].metric = Metric::InnerProduct;
  comm.barrier();
  double t0 = now();
  ShardedRetrieval sharded(shared, features, ids, options);
  comm.barrier();
  double index_s = now() - t0;
  CurriculumOptions co;
  co.top_k = a.k - 1;
  t0 = now();
  auto curriculum = build_curriculum(sharded, features, ids, hardness, {true, true, true}, co);
  comm.barrier();
  double build_s = now() - t0;
  auto t = sharded.traffic();
  auto bytes = torch::tensor({static_cast<double>(t.query_bytes + t.result_bytes),
                              static_cast<double>(t.distance_bytes)},
                             torch::kFloat64);
  comm.allreduce(bytes, ReduceOp::Sum)->wait();
  auto rss = comm.allgatherv(torch::tensor({peak_rss_mib()}, torch::kFloat64));
  if (r == 0)
    std::cout << fmt::format("| {} | {} | {} × 3 × {} | {:.1f} | {:.1f} | {:.0f} | {:.0f} | {:.0f} – {:.0f} |\n", p,
                             a.index, a.rows, a.dim, index_s, build_s,
                             bytes[0].item<double>() / a.rows, bytes[1].item<double>() / a.rows,
                             rss.min().item<double>(), rss.max().item<double>());
}

void run_loop(Communicator& comm, std::shared_ptr<Communicator> shared, const Args& a) {
  auto [begin, end] = my_range(a.rows, comm.rank(), comm.size());
  auto rows = make_rows(begin, end, a.dim, 1);
  PerModality<torch::Tensor> features{rows, rows.slice(1, 0, 1), rows.slice(1, 0, 1)};
  ShardedRetrieval sharded(shared, features, torch::arange(begin, end, torch::kInt64), PerModality<IndexOptions>(3));
  auto queries = make_rows(0, 64, a.dim, 2);
  std::cout << fmt::format("rank {} pid {} searching\n", comm.rank(), ::getpid()) << std::flush;
  double until = now() + a.seconds;
  std::int64_t rounds = 0;
  while (now() < until) {
    sharded.search(0, queries, a.k);
    ++rounds;
  }
  std::cout << fmt::format("rank {} finished {} searches\n", comm.rank(), rounds);
}

}  // namespace

int main(int argc, char** argv) {
  auto a = parse(argc, argv);
  omp_set_num_threads(static_cast<int>(a.threads));
  torch::set_num_threads(static_cast<int>(a.threads));
  auto comm = mpi_world();
  comm->set_timeout_s(a.timeout_s);
  try {
    if (a.mode == "search") run_search(*comm, comm, a);
    else if (a.mode == "curriculum") run_curriculum(*comm, comm, a);
    else if (a.mode == "loop") run_loop(*comm, comm, a);
    else throw std::runtime_error("unknown --mode " + a.mode);
  } catch (const std::exception& e) {
    std::cerr << "rank " << comm->rank() << ": " << e.what() << "\n";
    comm->abort(1);
  }
  return 0;
}
