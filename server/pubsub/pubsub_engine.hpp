#pragma once
// XEP-0060 publish-subscribe, one engine for two kinds of host (server/pubsub/README.md):
//   PEP (XEP-0163): every account's own nodes at its bare JID — created by publishing, presence access by default,
//     notifications to the account's contacts (and its own resources) whose clients want them (XEP-0115 +notify);
//   the service at [pubsub] service: anyone's nodes, explicit subscriptions; the server's own nodes (the RTBL).
// Every request is one storage job (read, decide, write under the node's or the account's lock); what it wants
// sent goes into the caller's `outgoing`. Nothing here routes.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/outgoing.hpp"
#include "protocol/pubsub.hpp"
#include "server/config/config.hpp"
#include "server/pubsub/caps_cache.hpp"
#include "server/stream/session_registry.hpp"
#include "storage/async_store.hpp"

namespace hush {

namespace pubsub_detail {
struct pending_event;
struct loaded_node;
}  // namespace pubsub_detail

// Where a node lives: storage's host key, and who owns the host.
struct pubsub_host {
    std::string key;     // "user@domain" (PEP) or the service domain
    bool pep = false;
    jid account;         // PEP: the account (bare)
    jid address;         // what stanzas come from: the account's bare JID or the service domain
};

// A notification decided inside a storage job, built and addressed once the job is done.
struct pubsub_delivery {
    std::string node;
    pubsub::node_config config;
    std::vector<std::string> to;  // explicit subscribers (bare or full JIDs)
    // PEP: the contacts who may see the node (bare JIDs; their clients' +notify picks the resources).
    std::vector<std::string> contacts;
    // PEP: the account's XEP-0191 blocklist; nothing goes to what it blocks.
    std::vector<std::string> blocked;
    bool pep = false;
};

class pubsub_engine {
public:
    pubsub_engine(storage::async_store& store, const pubsub_config& options, std::vector<std::string> local_hosts,
                  std::vector<std::string> admins, session_registry& sessions, caps_cache* caps);

    // An iq get/set addressed to `addressed` (an account's bare JID or the service domain) carrying a pubsub
    // request, or a disco request this engine answers (the service's, a PEP node's, an account's node list);
    // nullopt: not ours. `iq.from()` is the authenticated sender.
    boost::asio::awaitable<std::optional<stanza>> handle(const stanza& iq, const jid& addressed, outgoing& out);

    // XEP-0163 §4.3.2: `account` received available presence from `from` (a contact; or its own session, then
    // `from` is one of the account's resources). The caps it announces are learned: when its features are known,
    // the last item of each node it wants (+notify) and may see goes into `out`; else the account's PEP service
    // asks the client (disco#info from the account's bare JID, as XEP-0163 services do) and sends them once it
    // answers. Unavailable: the resource is forgotten.
    boost::asio::awaitable<void> presence_seen(const jid& account, const jid& from, const stanza& presence,
                                               outgoing& out);

    // A resource went away without unavailable presence (its session ended): forgotten.
    void forget(const jid& full);

    // An iq result or error from `from` to the account `to` answering the PEP service's disco#info query: taken
    // (no storage access: the router asks before it classifies; the `caps-answer` row), then learned.
    struct caps_reply {
        jid account;
        jid from;
        std::string node_ver;
        stanza iq;
    };
    // Null when the stanza answers no query (the common case: a pointer keeps the router's frame small).
    std::unique_ptr<caps_reply> take_caps_answer(const stanza& iq, const jid& from, const jid& to);
    boost::asio::awaitable<void> caps_answered(const caps_reply& answer, outgoing& out);

    // XEP-0402 §5.3: the account's XEP-0048 bookmarks in XEP-0049 private XML (get or set of <storage
    // xmlns='storage:bookmarks'/> from the account itself) are its urn:xmpp:bookmarks:1 PEP node; nullopt: not those.
    boost::asio::awaitable<std::optional<stanza>> legacy_bookmarks(const stanza& iq, const jid& addressed,
                                                                   outgoing& out);

    // XEP-0398: the photo of a vCard the account has just stored (`vcard_set`, its accepted iq set) is published
    // as its XEP-0084 avatar (data and metadata nodes, made open where missing: the vCard was anyone's to read),
    // unless it already is; notifications into `out`.
    boost::asio::awaitable<void> vcard_photo_to_avatar(const stanza& vcard_set, const jid& account, outgoing& out);

    // The server's own nodes on the service (the RTBL publisher). ensure creates the node or applies `config` to
    // it; publish/retract notify the node's subscribers into `out`. False on a storage failure (logged).
    // Node names on the service only the server may have (the RTBL's): nobody creates them, and a node of that name
    // somebody made before (the publisher was off then) is taken back by ensure_own_node. Set once at start-up.
    void reserve_nodes(std::vector<std::string> names) { reserved_ = std::move(names); }
    boost::asio::awaitable<bool> ensure_own_node(const std::string& node, const pubsub::node_config& config);
    boost::asio::awaitable<bool> publish_own(const std::string& node, const std::string& item_id,
                                             const std::string& payload_xml, outgoing& out);
    boost::asio::awaitable<bool> retract_own(const std::string& node, const std::string& item_id, outgoing& out);
    boost::asio::awaitable<std::optional<std::vector<std::string>>> own_item_ids(const std::string& node);

    const std::string& service_domain() const { return service_; }
    bool is_service(const jid& addressed) const { return !service_.empty() && addressed.bare_string() == service_; }

    static std::vector<std::string> account_features();
    static std::vector<std::string> service_features();

private:
    struct context;  // one request being answered (pubsub_engine.cpp)

    boost::asio::awaitable<stanza> request(const stanza& iq, const jid& from, const pubsub_host& host,
                                           const pubsub::request& r, outgoing& out);
    boost::asio::awaitable<stanza> owner_request(const stanza& iq, const jid& from, const pubsub_host& host,
                                                 const pubsub::request& r, outgoing& out);
    boost::asio::awaitable<std::optional<stanza>> disco(const stanza& iq, const jid& from, const pubsub_host& host,
                                                        pugi::xml_node query);
    // A decided event (pubsub_job.hpp) to everyone it names, into `out`.
    void notify(const pubsub_host& host, const pubsub_detail::pending_event& e, outgoing& out) const;
    // One change to one of the server's own nodes, in a transaction of its own: `change` writes (the node row
    // locked) and says what to notify. False on a storage failure (logged with `what`), or when the node is missing
    // unless `missing_is_fine`.
    boost::asio::awaitable<bool> change_own(
        const std::string& node, const std::string& what, bool missing_is_fine,
        const std::function<storage::result<std::optional<pubsub_detail::pending_event>>(
            storage::store&, const pubsub_host&, const pubsub_detail::loaded_node&)>& change,
        outgoing& out);
    // The resources of `bare` that want `node` (+notify), or `bare` itself when it is a remote/explicit address.
    std::vector<jid> interested(const jid& bare, const std::string& node) const;

    pubsub_host host_for(const jid& addressed) const;
    bool is_admin(const jid& who) const;
    std::string new_item_id();

    storage::async_store& store_;
    const pubsub_config& options_;
    std::vector<std::string> local_hosts_;
    std::vector<std::string> admins_;
    session_registry& sessions_;
    caps_cache* caps_;
    std::string service_;
    std::vector<std::string> reserved_;

    // What each account's PEP service knows of a resource whose presence reached it: full JID -> account (bare) ->
    // the caps ver it announced (a repeated presence with the same caps sends nothing again), and the services'
    // disco#info queries awaiting an answer: "account full-JID" -> what was asked and when. Both bounded: the
    // oldest go first.
    struct asked {
        std::string node_ver;
        std::chrono::steady_clock::time_point when;
    };
    static constexpr std::size_t max_tracked = 10000;
    static constexpr std::chrono::seconds ask_timeout{60};
    mutable std::mutex mutex_;
    std::map<std::string, std::map<std::string, std::string>> seen_;
    std::map<std::string, asked> asked_;
    boost::asio::awaitable<void> last_items(const jid& account, const jid& to, outgoing& out);
};

}  // namespace hush
