#pragma once
// The server-wide blocklist in a running server: an immutable snapshot swapped in whole when the list changes
// (loaded at start, again on SIGHUP and every `reload_every`, so hushctl's offline edits take effect), and the
// "blocklist" policy for the chain: stranger stanzas from a blocked JID, domain (and subdomains) or IP range are
// refused; contacts keep talking unless the entry says contacts_too.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "antispim/blocklist.hpp"
#include "antispim/policy.hpp"
#include "antispim/config.hpp"
#include "storage/async_store.hpp"

namespace hush {

class blocklist_service {
public:
    static constexpr std::chrono::seconds reload_every{30};

    // Loads the list with its own short-lived connection; throws std::runtime_error at start-up on failure.
    // `storage` opens a connection of its own at start-up (the list must be there before the first stanza);
    // `ca_file` adds trust anchors for HTTPS imports (the [s2s] ca_file). Entries with trust "greylist" (imported
    // ones, ranges the DoS detector greylisted) defer a first contact once through `greylist`, as the greylist
    // policy does (null: they let it pass).
    blocklist_service(const antispim_config& cfg, const storage::store_options& storage, std::string ca_file,
                      storage::async_store& store, class greylist* greylist = nullptr);

    std::shared_ptr<const antispim::blocklist> current() const;
    // Reads the list again; on failure keeps the old one (logged).
    boost::asio::awaitable<void> reload();

    std::unique_ptr<antispim::policy> make_policy();

    // Follows one configured [[antispim.import]] source: polls it with If-None-Match every interval until
    // `stopping` says so. Imported entries block like local ones; they are not published. The server runs one per
    // source, supervised (restarted should it fail).
    boost::asio::awaitable<void> follow(antispim_config::import_source source, const std::atomic<bool>& stopping);

    // Replaces the entries imported from one source ("import:<url>", "rtbl:<service>/<node>").
    void set_imported(const std::string& source, std::vector<storage::blocklist_entry> entries);

    // Local (database) entries, and the imported ones, unexpired.
    std::vector<storage::blocklist_entry> local_entries() const;
    std::vector<storage::blocklist_entry> imported_entries() const;

    // What [antispim.publish] publishes, the one selection behind /blocklist.xml and the RTBL nodes: unexpired
    // local entries whose source class is in `sources`, and imported ones that block when "imports" is; JIDs as
    // kind "jid-sha256" (the hex SHA-256 of the bare JID) when hash_jids says so. Local entries first.
    std::vector<storage::blocklist_entry> published_entries() const;

    // Goes up whenever the entries change (a reload that read something else, an import or RTBL update): a cheap
    // signal for whoever mirrors the list (the RTBL publisher), instead of comparing it again and again.
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

    // Where entries with trust "greylist" note their first sights.
    class greylist* greylist_for_entries() const { return greylist_; }
    // Whether the sender is listed by an import whose trust is "challenge" (the challenge policy asks it even
    // when the receiver lets strangers through).
    bool listed_for_challenge(const jid& sender, std::string_view peer_address) const;
    // Whether an entry that does not block (trust "challenge" or "greylist") lists the sender or its network: a
    // part of the content policy's combined score.
    bool listed_mildly(const jid& sender, std::string_view peer_address) const;

private:
    void install(std::vector<storage::blocklist_entry> entries);
    void rebuild();  // under mutex_: merges local and imported entries into a new snapshot

    const antispim_config& cfg_;
    std::string ca_file_;
    storage::async_store& store_;
    class greylist* const greylist_;
    std::vector<storage::blocklist_entry> local_;
    std::map<std::string, std::vector<storage::blocklist_entry>> imported_;  // by source URL
    mutable std::mutex mutex_;
    std::shared_ptr<const antispim::blocklist> current_;
    std::size_t last_count_ = static_cast<std::size_t>(-1);
    std::atomic<std::uint64_t> generation_{0};
};

// The source class of an entry for [antispim.publish] sources: "admin", "dos", "consensus", "reports", "imports".
std::string_view publish_source_of(const storage::blocklist_entry& e);

}  // namespace hush
