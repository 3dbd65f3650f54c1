#pragma once
// hushctl's XEP-0484 commands, offline on the database: the FAST tokens of an account's clients, and revoking them
// (docs/fast.md). A running hushd sees a revocation at the client's next login: it reads the tokens every time.
#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "storage/store.hpp"

namespace hush {

// `args` starts with "fast"; returns the exit status (2: usage).
int run_fast_command(const config& cfg, storage::store& store, const std::vector<std::string>& args);

inline constexpr const char* fast_usage =
    "  fast list JID            the account's FAST tokens: client id, mechanism, issued, last used, expires, count\n"
    "  fast revoke JID [CLIENT] revoke the tokens of one client (its id, as listed), or of all its clients\n";

}  // namespace hush
