#pragma once

namespace hardy::app {

// Parses argv, runs the chosen command and returns the process exit code.
int run_cli(int argc, char** argv);

}  // namespace hardy::app
