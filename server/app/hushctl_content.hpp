#pragma once
// hushctl's content commands, offline on the database: teaching the content policy's Bayes classifier, its
// figures, and forgetting it. A running hushd reads the model again within five minutes, or at once on SIGHUP.
#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "storage/store.hpp"

namespace hush {

// `args` starts with "content"; returns the exit status (2: usage).
int run_content_command(const config& cfg, storage::store& store, const std::vector<std::string>& args);

inline constexpr const char* content_usage =
    "  content train spam|ham FILE\n"
    "                           teach the Bayes classifier one message per line of FILE (- for stdin)\n"
    "  content stats            what it learnt from, and whether it scores yet\n"
    "  content reset            forget everything it learnt\n";

}  // namespace hush
