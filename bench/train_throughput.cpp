// Training throughput (utterances per second) of the teacher (stage 2 loss) and of
// the student in curriculum stage 2 (K + 1 views, one optimizer step each), at the
// paper's sizes by default. A benchmark, not a test: it prints numbers.
//
//   build/bench/train_throughput [--hidden 256] [--depth 4] [--heads 2]
//       [--dims 512,1024,1024] [--batch 16] [--length 48] [--steps 5] [--views 4]
//       [--threads N (default: all cores)]
#include "model/losses.h"
#include "model/student_net.h"
#include "model/teacher_net.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

using namespace hardy;

namespace {

struct Args {
  ModelOptions model;
  std::int64_t batch = 16, length = 48, steps = 5, warmup = 2, views = 4, classes = 4;
  std::int64_t threads = std::thread::hardware_concurrency();
};

Args parse(int argc, char** argv) {
  Args a;
  a.model.dims = {512, 1024, 1024};
  a.model.outputs = a.classes;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--hidden") a.model.hidden = std::stoll(v);
    else if (k == "--depth") a.model.depth = std::stoll(v);
    else if (k == "--heads") a.model.heads = std::stoll(v);
    else if (k == "--batch") a.batch = std::stoll(v);
    else if (k == "--length") a.length = std::stoll(v);
    else if (k == "--steps") a.steps = std::stoll(v);
    else if (k == "--views") a.views = std::stoll(v);
    else if (k == "--threads") a.threads = std::stoll(v);
    else if (k == "--dims") {
      std::stringstream ss(v);
      std::string d;
      for (int m = 0; m < 3 && std::getline(ss, d, ','); ++m) a.model.dims[m] = std::stoll(d);
    } else {
      std::cerr << "unknown flag " << k << "\n";
      std::exit(2);
    }
  }
  return a;
}

SequenceBatch random_batch(const Args& a, const std::vector<bool>& keep) {
  SequenceBatch b;
  for (auto dim : a.model.dims) b.x.push_back(torch::randn({a.batch, a.length, dim}));
  b.real = torch::ones({a.batch, a.length}, torch::kBool);
  b.real.slice(1, a.length * 3 / 4).slice(0, 0, a.batch / 2).fill_(false);  // some padding
  b.available = b.real.unsqueeze(-1).expand({a.batch, a.length, 3}).clone();
  b.label = torch::randint(a.classes, {a.batch, a.length}, torch::kInt64);
  return apply_condition(b, keep);
}

template <typename Step>
double utterances_per_second(const Args& a, std::int64_t utterances_per_step, Step step) {
  for (std::int64_t i = 0; i < a.warmup; ++i) step();
  auto start = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < a.steps; ++i) step();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return utterances_per_step * a.steps / s;
}

}  // namespace

int main(int argc, char** argv) {
  auto a = parse(argc, argv);
  torch::set_num_threads(static_cast<int>(std::max<std::int64_t>(1, a.threads)));
  torch::manual_seed(0);
  const std::vector<bool> condition{true, true, false};  // "at": visual missing
  auto full = random_batch(a, {true, true, true});
  auto batch = apply_condition(full, condition);
  const auto utterances = batch.real.sum().item<std::int64_t>();

  TeacherNet teacher(a.model);
  torch::optim::Adam teacher_opt(teacher->parameters(), torch::optim::AdamOptions(1e-4));
  double teacher_rate = utterances_per_second(a, utterances, [&] {
    auto out = teacher->forward(batch);
    auto loss = task_loss(out.joint_logits, batch.label, batch.real, false) +
                reconstruction_loss(out.reconstruction, full.x, batch.available, batch.real);
    teacher_opt.zero_grad();
    loss.backward();
    teacher_opt.step();
  });

  StudentNet student(a.model);
  torch::optim::Adam student_opt(student->parameters(), torch::optim::AdamOptions(1e-4));
  double student_rate = utterances_per_second(a, utterances * a.views, [&] {
    for (std::int64_t v = 0; v < a.views; ++v) {  // one optimizer step per view
      auto out = student->forward(batch);
      auto loss = task_loss(out.joint_logits, batch.label, batch.real, false) +
                  reconstruction_loss(out.reconstruction, full.x, batch.available, batch.real);
      student_opt.zero_grad();
      loss.backward();
      student_opt.step();
    }
  });

  std::cout << fmt::format(
      "hidden {} depth {} heads {} dims {}/{}/{}; batch {} sequences x {} (≈{} real utterances); "
      "{} intra-op threads\n",
      a.model.hidden, a.model.depth, a.model.heads, a.model.dims[0], a.model.dims[1],
      a.model.dims[2], a.batch, a.length, utterances, torch::get_num_threads());
  std::cout << fmt::format("teacher (stage 2 step):              {:8.0f} utterances/s\n", teacher_rate);
  std::cout << fmt::format("student stage 2 ({} views, {} steps): {:8.0f} utterances/s (view-utterances)\n",
                           a.views, a.views, student_rate);
  return 0;
}
