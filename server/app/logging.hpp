#pragma once
// One line per event on stderr, with a timestamp and a level. Never log passwords; message bodies only at debug.
#include <string>

namespace hush {

void setup_logging(const std::string& level);

}  // namespace hush
