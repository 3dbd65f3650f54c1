#pragma once
// XEP-0050 ad-hoc commands for the anti-SPIM settings and message requests — what users of Gajim, Conversations,
// Dino or Psi can click: "Anti-spam question" (urn:hush:antispim:0#configure) and "Message requests"
// (urn:hush:antispim:0#requests), executed on the user's own server by local accounts, each in two stages (a
// form, then its submission). Also answers the disco queries that list them (XEP-0050 §2).
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"
#include "antispim/stranger_service.hpp"

namespace hush {

class antispim_commands {
public:
    static constexpr std::string_view commands_ns = "http://jabber.org/protocol/commands";
    static constexpr std::string_view configure_node = "urn:hush:antispim:0#configure";
    static constexpr std::string_view requests_node = "urn:hush:antispim:0#requests";

    // `more_commands`: (node, name) of the server's other commands, listed with these (XEP-0050 §2.2 has one list).
    antispim_commands(antispim_service& service, std::function<bool(std::string_view)> is_local,
                      std::vector<std::pair<std::string, std::string>> more_commands = {});

    // server_handlers extension: iq to the server domain (commands, disco for the commands node).
    boost::asio::awaitable<std::optional<stanza>> handle_iq(const stanza& iq, const jid& addressed, outgoing& out);

private:
    boost::asio::awaitable<stanza> configure(const stanza& iq, const jid& user, pugi::xml_node command);
    boost::asio::awaitable<stanza> requests(const stanza& iq, const jid& user, pugi::xml_node command, outgoing& out);
    // A new session for `user` on `node`; checks a continuing one (false: unknown or someone else's).
    std::string open_session(const std::string& node, const jid& user);
    bool continue_session(const std::string& id, const std::string& node, const jid& user);

    antispim_service& service_;
    std::function<bool(std::string_view)> is_local_;
    std::vector<std::pair<std::string, std::string>> more_commands_;
    struct session_info {
        std::string node;
        std::string user;
        std::chrono::steady_clock::time_point started;
    };
    std::mutex mutex_;
    std::map<std::string, session_info> sessions_;
};

}  // namespace hush
