#pragma once
// The server-wide blocklist in a running server: an immutable snapshot swapped in whole when the list changes
// (loaded at start, again on SIGHUP and every `reload_every`, so hushctl's offline edits take effect), and the
// "blocklist" policy for the chain: stranger stanzas from a blocked JID, domain (and subdomains) or IP range are
// refused; contacts keep talking unless the entry says contacts_too.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include <boost/asio/awaitable.hpp>

#include "antispim/blocklist.hpp"
#include "antispim/policy.hpp"
#include "server/config.hpp"
#include "storage/async_store.hpp"

namespace hush {

class blocklist_service {
public:
    static constexpr std::chrono::seconds reload_every{30};

    // Loads the list with its own short-lived connection; throws std::runtime_error at start-up on failure.
    blocklist_service(const config& cfg, storage::async_store& store);

    std::shared_ptr<const antispim::blocklist> current() const;
    // Reads the list again; on failure keeps the old one (logged).
    boost::asio::awaitable<void> reload();

    std::unique_ptr<antispim::policy> make_policy();

    // Starts following the configured [[antispim.import]] sources (each polled with If-None-Match on its own
    // coroutine until `stopping` says so). Imported entries block like local ones; they are not published.
    void start_imports(boost::asio::any_io_executor executor, const std::atomic<bool>& stopping);

    // Parses a fetched list (format "hush" or "domains"); the error says what is wrong.
    static hush::expected<std::vector<storage::blocklist_entry>, std::string> parse_import(
        const std::string& format, const std::string& body, const std::string& url, std::int64_t now);

    // Local (database) entries only: what /blocklist.xml publishes.
    std::vector<storage::blocklist_entry> local_entries() const;

private:
    void install(std::vector<storage::blocklist_entry> entries);
    void rebuild();  // under mutex_: merges local and imported entries into a new snapshot
    boost::asio::awaitable<void> follow(antispim_config::import_source source, const std::atomic<bool>& stopping);

    const config& cfg_;
    storage::async_store& store_;
    std::vector<storage::blocklist_entry> local_;
    std::map<std::string, std::vector<storage::blocklist_entry>> imported_;  // by source URL
    mutable std::mutex mutex_;
    std::shared_ptr<const antispim::blocklist> current_;
    std::size_t last_count_ = static_cast<std::size_t>(-1);
};

}  // namespace hush
