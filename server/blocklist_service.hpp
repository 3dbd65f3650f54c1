#pragma once
// The server-wide blocklist in a running server: an immutable snapshot swapped in whole when the list changes
// (loaded at start, again on SIGHUP and every `reload_every`, so hushctl's offline edits take effect), and the
// "blocklist" policy for the chain: stranger stanzas from a blocked JID, domain (and subdomains) or IP range are
// refused; contacts keep talking unless the entry says contacts_too.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

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

private:
    void install(std::vector<storage::blocklist_entry> entries);

    storage::async_store& store_;
    mutable std::mutex mutex_;
    std::shared_ptr<const antispim::blocklist> current_;
    std::size_t last_count_ = static_cast<std::size_t>(-1);
};

}  // namespace hush
