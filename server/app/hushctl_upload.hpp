#pragma once
// hushctl's upload commands (XEP-0363, docs/upload.md), offline on the database and the upload directory: what
// each account stores, and purges (the expired files, one account's, or all). A running hushd's sweeper would
// delete expired files within a minute anyway; purge is for an admin who wants the space now.
#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "storage/store.hpp"

namespace hush {

// `args` starts with "upload"; returns the exit status (2: usage).
int run_upload_command(const config& cfg, storage::store& store, const std::vector<std::string>& args);

inline constexpr const char* upload_usage =
    "  upload stats             files and bytes stored per account, and the totals\n"
    "  upload purge [--account JID | --all]\n"
    "                           delete the expired uploads (default), one account's, or every one\n";

}  // namespace hush
