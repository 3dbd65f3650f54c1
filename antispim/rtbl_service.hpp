#pragma once
// XEP-0060 real-time blocklists (RTBL): for each [[antispim.rtbl]] service, the server itself (its first host)
// subscribes to the configured nodes and fetches their items at start and every resync interval; pushed items
// and retractions apply at once. Item ids are the listed sources: a domain (spam_source_domains), the hex SHA-256
// of a bare JID (spam_source_jids_sha256) or an address or range (spam_source_ips). They go into the server-wide
// blocklist as imported entries (source "rtbl:<service>/<node>", the source's trust) — several services at once.
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "antispim/blocklist_service.hpp"
#include "antispim/config.hpp"
#include "antispim/stanza_sink.hpp"
#include "protocol/xep0082.hpp"
#include "antispim/layer.hpp"

namespace hush {

inline constexpr std::string_view pubsub_ns = "http://jabber.org/protocol/pubsub";
inline constexpr std::string_view pubsub_event_ns = "http://jabber.org/protocol/pubsub#event";

class rtbl_service final : public server_inbox {
public:
    // `self` is the JID the server subscribes as (its first host).
    rtbl_service(const antispim_config& cfg, std::string self, blocklist_service& blocklist);

    // For the [[antispim.rtbl]] source at `index`: subscribes and fetches now through `pipeline` (the router),
    // then resyncs its nodes on its interval until `stopping`. The server runs one per source, supervised
    // (restarted should it fail); the answers come back through handle().
    boost::asio::awaitable<void> follow(std::size_t index, const std::atomic<bool>& stopping, stanza_sink& pipeline);

    boost::asio::awaitable<bool> handle(const stanza& s) override;

    // The entry an item id stands for on `node`, if it is well-formed (public for tests).
    static std::optional<storage::blocklist_entry> entry_for(const antispim_config::rtbl_source& source,
                                                             const std::string& node, const std::string& item_id,
                                                             std::int64_t now);

private:
    struct pending {
        std::size_t source = 0;
        std::string node;
        bool fetch = false;  // items request (else a subscription)
    };
    boost::asio::awaitable<void> request(std::size_t source, const std::string& node, bool fetch, stanza_sink& pipeline);
    // Under mutex_: the node's items changed; hands them to the blocklist.
    void publish(std::size_t source, const std::string& node);
    std::optional<std::size_t> source_of(std::string_view from) const;

    const antispim_config& cfg_;
    blocklist_service& blocklist_;
    std::string self_;
    std::mutex mutex_;
    std::map<std::string, pending> pending_;  // by iq id
    std::map<std::pair<std::size_t, std::string>, std::map<std::string, storage::blocklist_entry>> items_;
    std::uint64_t next_id_ = 0;
};

}  // namespace hush
