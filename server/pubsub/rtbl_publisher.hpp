#pragma once
// The published part of the server-wide blocklist as a real-time blocklist (RTBL) on the pubsub service: the nodes
// RTBL subscribers follow (Prosody's mod_anti_spam, xmppbl-style lists, another Hush's [[antispim.rtbl]]), owned
// by the server and kept in step with the list — at start, then whenever it changes (its generation) or an entry
// expires: additions are published, removals and expiries retracted (subscribers are notified of both).
//
//   spam_source_domains      item id: the domain
//   spam_source_jids_sha256  item id: the hex SHA-256 of the bare JID (JIDs are never published in clear here)
//   spam_source_ips          item id: the address or CIDR range
//
// Each item carries <report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>, as Prosody-hosted
// lists do. Entries that only greylist or challenge are left out: an RTBL item blocks wherever it lands.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/outgoing.hpp"
#include "protocol/pubsub.hpp"
#include "server/pubsub/pubsub_engine.hpp"
#include "storage/records.hpp"

namespace hush {

namespace rtbl_publication {

inline constexpr std::array<std::string_view, 3> nodes = {"spam_source_domains", "spam_source_jids_sha256",
                                                           "spam_source_ips"};
inline constexpr std::string_view report_payload =
    "<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>";

// What the nodes should hold for these published entries at `now`: item ids by node, and the soonest time one of
// them expires (0: none does), when the nodes must be looked at again.
struct wanted_items {
    std::map<std::string, std::set<std::string>> ids;  // every node present, perhaps empty
    std::int64_t next_expiry = 0;
};
wanted_items wanted(const std::vector<storage::blocklist_entry>& published, std::int64_t now);

// How one node gets from `present` (its item ids) to `wanted`.
struct changes {
    std::vector<std::string> publish;
    std::vector<std::string> retract;
    bool empty() const { return publish.empty() && retract.empty(); }
};
changes diff(const std::set<std::string>& wanted, const std::vector<std::string>& present);

// The configuration the server's RTBL nodes get: open to anyone, only the server publishes, items kept (as many
// as an own node may hold), no last item on subscription (a subscriber fetches them all), retractions notified.
pubsub::node_config node_configuration(std::string_view node);

}  // namespace rtbl_publication

class rtbl_publisher {
public:
    // `published`: the entries [antispim.publish] selects (blocklist_service::published_entries); `generation`:
    // goes up when they may have changed; `deliver`: carries the notifications out (the router).
    using entries_source = std::function<std::vector<storage::blocklist_entry>()>;
    using generation_source = std::function<std::uint64_t()>;
    using deliverer = std::function<boost::asio::awaitable<void>(outgoing)>;
    rtbl_publisher(pubsub_engine& engine, entries_source published, generation_source generation,
                   deliverer deliver);

    // One pass: the nodes set up (once), then each brought in line with the list. False when the storage failed
    // (the next pass tries again).
    boost::asio::awaitable<bool> sync();

    // Syncs at once, then again when the generation moves (looked at every `poll`), an entry expires, or a failed
    // pass is due again, until `stopping`. The server runs it supervised.
    boost::asio::awaitable<void> run(const std::atomic<bool>& stopping);

    static constexpr std::chrono::seconds poll{1};
    static constexpr std::chrono::seconds retry_after{30};

private:
    pubsub_engine& engine_;
    entries_source published_;
    generation_source generation_;
    deliverer deliver_;
    bool nodes_ready_ = false;
    std::int64_t next_expiry_ = 0;
};

}  // namespace hush
