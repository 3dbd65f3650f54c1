#pragma once
// XEP-0357: the account's push registrations and the notifications sent for them (server/push/README.md).
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/outgoing.hpp"
#include "protocol/push.hpp"
#include "server/config/config.hpp"
#include "storage/async_store.hpp"

namespace hush {

// An app server's answer to a notification that was still outstanding (taken by push_service::take_answer).
struct push_answer {
    jid account;  // bare
    jid service;
    std::string node;
    push::answer_kind kind = push::answer_kind::accepted;
};

class push_service {
public:
    using clock = std::chrono::steady_clock;

    static constexpr std::string_view document_key = "push:registrations";
    static constexpr std::size_t max_options_bytes = 4096;  // the client's publish-options form, kept per registration
    static constexpr std::size_t max_node_bytes = 1024;     // the node attribute, sent back with every notification
    static constexpr std::size_t max_body_bytes = 512;      // of a body, when include_body is set
    // A notification nobody answered within this long no longer holds the next one back.
    static constexpr clock::duration answer_timeout = std::chrono::seconds(60);
    // Notifications awaiting an answer, server-wide (each account has at most max_registrations of them).
    static constexpr std::size_t max_outstanding = 100000;

    // `local_hosts`: the domains this server serves; no address there is an app server.
    push_service(storage::async_store& store, const push_config& options, std::vector<std::string> local_hosts);

    // <enable/> or <disable/> (XEP-0357 §5, §6); nullopt when the payload is not ours. `iq` is a validated request
    // from a stamped full JID; `addressed` the bare JID it went to. Anyone but the account itself gets
    // <service-unavailable/>, as for an account that does not exist.
    boost::asio::awaitable<std::optional<stanza>> handle(const stanza& iq, const jid& addressed);

    // A message for `account` that no connected resource took: a notification to each of its app servers, into
    // `out` — except to one whose previous notification is still unanswered (younger than answer_timeout): the
    // phone is already being woken. Costs one storage read (none when push is off or the message is not worth
    // waking a phone for).
    boost::asio::awaitable<void> notify(const jid& account, const stanza& message, outgoing& out);

    // An iq result or error from `from` to `to`: if it answers a notification still outstanding for that account
    // and app server (same id), that notification is taken (the registration may be notified again) and returned.
    // No storage access: the router asks this before it classifies the stanza.
    std::optional<push_answer> take_answer(const stanza& iq, const jid& from, const jid& to);

    // After take_answer: an error saying the registration is gone (any type but 'wait', XEP-0357 §8) disables it.
    boost::asio::awaitable<void> answered(const push_answer& answer);

    // A message a person wrote (a body, not an error or a room's message): what is worth waking a phone for.
    static bool worth_notifying(const stanza& message);

    // The registrations stored in the account's document (for tests and hushctl).
    static std::vector<push::enable_request> parse_registrations(const std::string& document);
    static std::string serialize_registrations(const std::vector<push::enable_request>& registrations);

    // Notifications awaiting an answer (tests, metrics).
    std::size_t outstanding() const;
    // Tests: where "now" comes from (answer_timeout).
    void set_clock(std::function<clock::time_point()> now) { now_ = std::move(now); }

private:
    struct pending {
        std::string id;
        clock::time_point sent;
    };
    // Why an enable is refused: empty when the app server and node are acceptable.
    std::string unacceptable(const push::enable_request& enable) const;
    // True (and the notification recorded as outstanding under `id`) when `registration` may be notified now.
    bool claim(const jid& account, const push::enable_request& registration, const std::string& id);

    storage::async_store& store_;
    const push_config& options_;
    std::vector<std::string> local_hosts_;
    std::function<clock::time_point()> now_ = [] { return clock::now(); };

    // Notifications awaiting an answer: (account, service, node) -> the last one's id and when it left. Bounded
    // by max_outstanding. Several threads route: one mutex, held for map operations only.
    using key = std::tuple<std::string, std::string, std::string>;
    mutable std::mutex mutex_;
    std::map<key, pending> outstanding_;
    std::map<std::string, key> by_id_;  // id -> key in outstanding_
};

}  // namespace hush
