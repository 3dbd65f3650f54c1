#pragma once
// The approval queue as a XEP-0050 ad-hoc command for the [server] admins (urn:hush:registration:0#approve): the
// first stage lists the accounts waiting (open registration with approval = true) in two list-multi fields,
// "approve" and "deny"; submitting it approves or deletes the chosen ones. Sessions are bounded and expire.
#include <chrono>
#include <map>
#include <mutex>
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

class approval_command {
public:
    static constexpr std::string_view node = "urn:hush:registration:0#approve";
    static constexpr std::string_view name = "Accounts waiting for approval";
    static constexpr std::size_t max_listed = 50;  // one form; the rest wait for the next run

    approval_command(const config& cfg, storage::async_store& store);

    // server_handlers extension: the command and the disco#info of its node, on the server's own address.
    boost::asio::awaitable<std::optional<stanza>> handle_iq(const stanza& iq, const jid& addressed, outgoing& out);

private:
    boost::asio::awaitable<stanza> list(const stanza& iq, const std::string& admin);
    boost::asio::awaitable<stanza> decide(const stanza& iq, const std::string& admin, pugi::xml_node form);
    std::string open_session(const std::string& admin);
    bool take_session(const std::string& id, const std::string& admin);

    const config& cfg_;
    storage::async_store& store_;
    std::mutex mutex_;
    std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>> sessions_;  // id -> admin
};

}  // namespace hush
