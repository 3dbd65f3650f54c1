#pragma once
// RFC 6121 §2: roster get (with versioning) and set for the account's own resources, and roster pushes.
#include <optional>

#include "protocol/jid.hpp"
#include "server/im/im_context.hpp"

namespace hush {

class roster_service {
public:
    explicit roster_service(im_context& ctx) : ctx_(ctx) {}

    // jabber:iq:roster get/set from a resource of `account`. An invalid stanza (valid() false) means the
    // answer is in `out` (a versioned get answered with an empty result, then pushes).
    boost::asio::awaitable<stanza> handle(const stanza& iq, const jid& account, outgoing& out);

    // A roster push of `item` (at `version`) for every resource of `account` that requested the roster
    // (only for that resource when `account` is a full JID).
    void push(const jid& account, const storage::roster_item& item, std::int64_t version, outgoing& out);

    // The account's item for `contact`, or nullopt; storage errors are logged and read as "no item".
    boost::asio::awaitable<std::optional<storage::roster_item>> item(const jid& account, const jid& contact);
    // Stores the item and pushes it; returns false on storage failure.
    boost::asio::awaitable<bool> save(const jid& account, storage::roster_item item, outgoing& out);
    boost::asio::awaitable<std::vector<storage::roster_item>> roster(const jid& account);

private:
    boost::asio::awaitable<stanza> handle_get(const stanza& iq, const jid& account, outgoing& out);
    boost::asio::awaitable<stanza> handle_set(const stanza& iq, const jid& account, outgoing& out);

    im_context& ctx_;
};

}  // namespace hush
