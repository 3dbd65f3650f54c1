#pragma once
// XEP-0401 §5: the ad-hoc command (XEP-0050) a local user runs on their server to get an invitation link for
// someone new: urn:xmpp:invite#invite, one stage (execute -> completed), answering a form with the `uri` and when it
// `expire`s. At most [registration] invites_per_user live invitations per user; none while registration is closed.
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "protocol/jid.hpp"
#include "protocol/outgoing.hpp"
#include "protocol/stanza.hpp"
#include "server/config/config.hpp"
#include "storage/async_store.hpp"

namespace hush {

class invite_command {
public:
    static constexpr std::string_view node = "urn:xmpp:invite#invite";
    static constexpr std::string_view name = "Invite someone to this server";

    invite_command(const config& cfg, storage::async_store& store);

    // server_handlers extension: the command and the disco#info of its node, on the server's own address.
    boost::asio::awaitable<std::optional<stanza>> handle_iq(const stanza& iq, const jid& addressed, outgoing& out);

private:
    const config& cfg_;
    storage::async_store& store_;
};

}  // namespace hush
