#include "app/cli.h"

int main(int argc, char** argv) { return hardy::app::run_cli(argc, argv); }
