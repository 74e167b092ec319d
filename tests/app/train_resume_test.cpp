// Killing `hardy_dist train` (SIGKILL) during student training and re-running the
// same command finishes without redoing finished stages or epochs, and ends with
// exactly the results of an uninterrupted run.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#ifndef HARDY_DIST_BIN
#error "HARDY_DIST_BIN must name the hardy_dist executable"
#endif

namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> train_args(const std::string& corpus, const std::string& out) {
  return {HARDY_DIST_BIN, "train", "--corpus", corpus, "--out", out, "--set", "data.folds=[0]",
          "--set", "data.conditions=[\"a\",\"tv\"]", "--set", "model.hidden=16", "--set",
          "model.depth=1", "--set", "model.ff_hidden=32", "--set", "model.decoder_hidden=32",
          "--set", "training.finetune_epochs=2", "--set", "training.teacher_epochs=3", "--set",
          "training.teacher_stage1_epochs=1", "--set", "training.student_epochs=80", "--set",
          "training.student_stage1_epochs=5", "--set", "training.batch_size=4", "--set",
          "training.threads=1", "--set", "training.device=cpu"};
}

// Starts the command with output to `log`; returns its pid.
pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    dup2(fileno(f), 1);
    dup2(fileno(f), 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(TrainResume, KillNineDuringStudentThenResume) {
  auto dir = fs::temp_directory_path() / ("hardy_resume_" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto corpus = (dir / "c.h5").string();
  ASSERT_EQ(wait_exit(spawn({HARDY_DIST_BIN, "synth", "--out", corpus, "--dialogues", "25",
                             "--dims", "6,8,4", "--max-length", "12", "--log-level", "warn"},
                            (dir / "synth.log").string())),
            0);

  // Uninterrupted reference run.
  auto ref = (dir / "ref").string();
  ASSERT_EQ(wait_exit(spawn(train_args(corpus, ref), (dir / "ref.log").string())), 0)
      << slurp((dir / "ref.log").string());

  // Interrupted run: SIGKILL once the first student has a checkpoint.
  auto out = (dir / "run").string();
  auto checkpoint = out + "/fold0/student_a.ckpt";
  pid_t pid = spawn(train_args(corpus, out), (dir / "run1.log").string());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  while (!fs::exists(checkpoint) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(fs::exists(checkpoint)) << slurp((dir / "run1.log").string());
  kill(pid, SIGKILL);
  wait_exit(pid);
  ASSERT_TRUE(fs::exists(out + "/fold0/teacher.json"));
  ASSERT_FALSE(fs::exists(out + "/fold0/student_tv.json")) << "killed too late to test resume";
  auto teacher_time = fs::last_write_time(out + "/fold0/teacher.pt");
  auto hardness_time = fs::last_write_time(out + "/fold0/hardness.pt");

  auto log = (dir / "run2.log").string();
  ASSERT_EQ(wait_exit(spawn(train_args(corpus, out), log)), 0) << slurp(log);
  auto text = slurp(log);
  EXPECT_EQ(text.find("| teacher | epoch"), std::string::npos) << "teacher trained again";
  EXPECT_NE(text.find("resuming after epoch"), std::string::npos) << text;
  EXPECT_EQ(fs::last_write_time(out + "/fold0/teacher.pt"), teacher_time);
  EXPECT_EQ(fs::last_write_time(out + "/fold0/hardness.pt"), hardness_time);
  EXPECT_TRUE(fs::exists(out + "/fold0/student_tv.json"));
  // Same numbers as the uninterrupted run: nothing lost, nothing redone differently.
  EXPECT_EQ(slurp(out + "/results.csv"), slurp(ref + "/results.csv"));
  fs::remove_all(dir);
}

}  // namespace
