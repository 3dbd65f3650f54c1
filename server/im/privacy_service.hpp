#pragma once
// XEP-0191 blocking command and XEP-0016 privacy lists: the iq protocols, a per-account cache of what is
// blocked, and the checks the router applies to every stanza between an account and anyone else.
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "protocol/privacy_list.hpp"
#include "server/im/im_context.hpp"
#include "server/im/roster_service.hpp"

namespace hush {

class privacy_service {
public:
    // Called after an unblock with the JIDs unblocked (all previously blocked ones for "unblock all").
    using unblock_hook = std::function<boost::asio::awaitable<void>(const jid& account, const std::vector<std::string>&,
                                                                    outgoing& out)>;

    privacy_service(im_context& ctx, roster_service& roster, unblock_hook on_unblocked = {})
        : ctx_(ctx), roster_(roster), on_unblocked_(std::move(on_unblocked)) {}

    // jabber:iq:privacy and urn:xmpp:blocking; the pushes they cause go into `out`.
    boost::asio::awaitable<stanza> handle_privacy(const stanza& iq, const jid& account, outgoing& out);
    boost::asio::awaitable<stanza> handle_blocking(const stanza& iq, const jid& account, outgoing& out);

    // May `account` (a full JID selects that session's active list) exchange `kind` with `other`?
    boost::asio::awaitable<bool> allows(const jid& account, const jid& other, privacy::stanza_class kind);
    // Is `other` on `account`'s XEP-0191 blocklist?
    boost::asio::awaitable<bool> blocks(const jid& account, const jid& other);

    // A session ended: forget its active list.
    void session_ended(const jid& full);

private:
    struct account_state {
        std::vector<std::string> blocklist;
        std::unordered_map<std::string, privacy::privacy_list> lists;  // by name
        std::string default_list;
        std::unordered_map<std::string, std::string> active;  // resource -> list name
    };
    boost::asio::awaitable<std::shared_ptr<const account_state>> load(const jid& account);
    void replace(const jid& account, std::shared_ptr<const account_state> state);
    // To every resource, or only to those that asked for the blocklist (XEP-0191 §3.3).
    void push_to_resources(const jid& account, const stanza& push, outgoing& out, bool blocklist_only = false);

    im_context& ctx_;
    roster_service& roster_;
    unblock_hook on_unblocked_;
    std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<const account_state>> cache_;  // by bare JID
};

}  // namespace hush
