#pragma once
// XEP-0357: the account's push registrations and the notifications sent for them (server/push/README.md).
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/outgoing.hpp"
#include "protocol/push.hpp"
#include "server/config/config.hpp"
#include "storage/async_store.hpp"

namespace hush {

class push_service {
public:
    static constexpr std::string_view document_key = "push:registrations";
    static constexpr std::size_t max_options_bytes = 4096;  // the client's publish-options form, kept per registration
    static constexpr std::size_t max_body_bytes = 512;      // of a body, when include_body is set

    push_service(storage::async_store& store, const push_config& options);

    // <enable/> or <disable/> from the account itself (XEP-0357 §5, §6); nullopt when the payload is not ours.
    // `iq` is a validated request from a stamped full JID; `addressed` the bare JID it went to.
    boost::asio::awaitable<std::optional<stanza>> handle(const stanza& iq, const jid& addressed);

    // A message for `account` that no connected resource took: a notification to each of its app servers, into
    // `out`. Costs one storage read (none when push is off or the message is not worth waking a phone for).
    boost::asio::awaitable<void> notify(const jid& account, const stanza& message, outgoing& out);

    // A message a person wrote (a body, not an error or a room's message): what is worth waking a phone for.
    static bool worth_notifying(const stanza& message);

    // The registrations stored in the account's document (for tests and hushctl).
    static std::vector<push::enable_request> parse_registrations(const std::string& document);
    static std::string serialize_registrations(const std::vector<push::enable_request>& registrations);

private:
    storage::async_store& store_;
    const push_config& options_;
};

}  // namespace hush
