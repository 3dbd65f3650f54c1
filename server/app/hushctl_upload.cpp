#include "server/app/hushctl_upload.hpp"

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "protocol/jid.hpp"
#include "server/app/hushctl_common.hpp"
#include "server/upload/upload_names.hpp"

namespace hush {

namespace {

using hushctl::fail;
using hushctl::unix_now;

constexpr std::size_t batch = 1000;

int stats_command(storage::store& store) {
    auto usage = store.upload_usage_by_account();
    if (!usage) {
        return fail(usage.error().message);
    }
    std::int64_t files = 0;
    std::int64_t bytes = 0;
    std::int64_t pending = 0;
    std::printf("account\tfiles\tbytes\tpending slots\n");
    for (const auto& u : *usage) {
        std::printf("%s@%s\t%lld\t%lld\t%lld\n", u.username.c_str(), u.domain.c_str(), static_cast<long long>(u.files),
                    static_cast<long long>(u.bytes), static_cast<long long>(u.pending));
        files += u.files;
        bytes += u.bytes;
        pending += u.pending;
    }
    std::printf("total\t%lld\t%lld\t%lld\n", static_cast<long long>(files), static_cast<long long>(bytes),
                static_cast<long long>(pending));
    return 0;
}

// The files first, then the row: a row without its file is deleted by the next purge or sweep anyway.
bool purge_one(const config& cfg, storage::store& store, const storage::upload_record& r, std::string& error) {
    if (upload::valid_id(r.id)) {
        std::error_code ec;
        std::filesystem::remove(cfg.upload.directory / r.id, ec);
        std::filesystem::remove(cfg.upload.directory / (r.id + ".part"), ec);
    }
    auto deleted = store.delete_upload(r.id);
    if (!deleted) {
        error = deleted.error().message;
        return false;
    }
    return true;
}

int purge_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    std::string domain;
    std::string username;
    bool all = false;
    if (args.size() == 3 && args[2] == "--all") {
        all = true;
    } else if (args.size() == 4 && args[2] == "--account") {
        const auto account = jid::parse(args[3]);
        if (!account || !account->has_node() || !account->is_bare()) {
            return fail("'" + args[3] + "' is not an account (user@example.org)");
        }
        domain = account->domain();
        username = account->node();
    } else if (args.size() != 2) {
        return 2;
    }
    const bool expired_only = !all && domain.empty();
    std::size_t count = 0;
    std::string error;
    for (;;) {
        auto rows = expired_only ? store.expired_uploads(unix_now(), batch) : store.list_uploads(domain, username, batch);
        if (!rows) {
            return fail(rows.error().message);
        }
        for (const auto& r : *rows) {
            if (!purge_one(cfg, store, r, error)) {
                return fail(error);
            }
            ++count;
        }
        if (rows->size() < batch) {
            break;
        }
    }
    std::printf("purged %zu upload(s)%s\n", count,
                expired_only ? " (expired)" : all ? " (all)" : (" of " + username + "@" + domain).c_str());
    return 0;
}

}  // namespace

int run_upload_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    if (args.size() >= 2 && args[1] == "stats" && args.size() == 2) {
        return stats_command(store);
    }
    if (args.size() >= 2 && args[1] == "purge") {
        return purge_command(cfg, store, args);
    }
    return 2;
}

}  // namespace hush
